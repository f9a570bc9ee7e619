// Publish once: a form that is submitting cannot be submitted again (the server also refuses a repeat).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.submitting) { event.preventDefault(); return; }
  form.dataset.submitting = "1";
  var clicked = event.submitter;
  if (clicked && clicked.name) {
    var keep = document.createElement("input");
    keep.type = "hidden"; keep.name = clicked.name; keep.value = clicked.value;
    form.appendChild(keep);
  }
  form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) { b.disabled = true; });
});

// The update page refreshes its deliveries while anything is still on its way.
(function () {
  var box = document.getElementById("deliveries");
  if (!box) { return; }
  function poll() {
    if (box.dataset.moving !== "1") { return; }
    fetch(box.dataset.src, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.firstElementChild;
        box.replaceWith(fresh);
        box = fresh;
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, 1500); });
  }
  setTimeout(poll, 1000);
})();

// The compose form previews in place while the author types: the server renders it (the same code publish
// uses, so the counters never disagree with the send) and the preview, counters and Publish bar are swapped in.
// Without script the Preview button posts the whole form and the page comes back at the preview.
(function () {
  var form = document.getElementById("compose");
  if (!form || !form.dataset.live || !window.fetch || !window.FormData) { return; }
  var timer = null, latest = 0;
  function swap(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var open = [].map.call(form.querySelectorAll("details[open]"), function (d) { return d.dataset.channel; });
    var ticked = form.querySelector("input[name=acknowledge]:checked");
    [].slice.call(holder.children).forEach(function (fresh) {
      var old = fresh.id && document.getElementById(fresh.id);
      if (old) { old.replaceWith(fresh); }
    });
    open.forEach(function (name) {
      var again = form.querySelector("details[data-channel='" + name + "']");
      if (again) { again.open = true; }
    });
    // A tick stays while the warnings it acknowledged are the same ones.
    var tick = form.querySelector("input[name=acknowledge]");
    if (ticked && tick && tick.value === ticked.value) { tick.checked = true; }
  }
  function refresh() {
    var mine = ++latest;
    fetch(form.dataset.live, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { if (mine === latest && !form.dataset.submitting) { swap(html); } })
      .catch(function () {});  // the Preview button still works: it posts the form
  }
  function soon() { clearTimeout(timer); timer = setTimeout(refresh, 300); }
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  if (form.dataset.autopreview === "1") { refresh(); }
})();

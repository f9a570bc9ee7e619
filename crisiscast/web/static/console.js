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
      .then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 1500);
})();

// Save what the author types, a moment after they stop typing, so a lost session or a closed tab loses nothing.
(function () {
  var form = document.getElementById("compose");
  if (!form || !form.dataset.autosave) { return; }
  var status = document.getElementById("draft-status");
  var timer = null;
  function say(text) { if (status) { status.textContent = text; } }
  function save() {
    var data = new FormData(form);
    data.delete("action");
    fetch(form.dataset.autosave, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRFToken": data.get("csrf_token") || "" }
    }).then(function (r) {
      if (r.ok) { return r.json().then(function (j) { say("Draft saved " + j.saved_at + "."); }); }
      say(r.status === 400 || r.redirected ? "Not saved: sign in again in another tab; your text stays here."
                                           : "Not saved (" + r.status + "); your text stays here.");
    }).catch(function () { say("Not saved: no connection. Your text stays here."); });
  }
  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(save, 1500); });
  form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(save, 300); });
})();

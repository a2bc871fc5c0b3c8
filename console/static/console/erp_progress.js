// A running ERP import's page: ask how far it is every few moments, show it, and reload the page
// (which then shows the preview or what was applied) once the import is done.
(function () {
  "use strict";
  var box = document.querySelector("[data-erp-progress]");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  var every = parseInt(box.getAttribute("data-poll-ms"), 10) || 1000;
  var phases = {queued: "Waiting for the worker", reading: "Reading and checking every row", applying: "Applying"};

  function show(state) {
    box.querySelector("[data-erp-phase]").textContent = phases[state.phase] || state.phase;
    box.querySelector("[data-erp-percent]").textContent = state.percent;
    box.querySelector("[data-erp-lines]").textContent = state.lines_read.toLocaleString();
    box.querySelector("[data-erp-bar]").style.width = state.percent + "%";
    ["new", "updated", "unchanged", "invalid", "orphans"].forEach(function (name) {
      var cell = document.querySelector('[data-count="' + name + '"]');
      if (cell) { cell.textContent = state[name]; }
    });
  }

  function poll() {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (state) {
        if (state.done) { window.location.reload(); return; }
        show(state);
        window.setTimeout(poll, every);
      })
      .catch(function () { window.setTimeout(poll, every * 5); });  // the server restarting: try again later
  }
  window.setTimeout(poll, every);
})();

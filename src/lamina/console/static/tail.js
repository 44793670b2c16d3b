// The Monitor tab's live tail: poll the function's new log events every two seconds and append
// them to the log region. Same-origin only (the console's CSP); nothing else runs on the page.
(function () {
  "use strict";
  var tail = document.getElementById("tail");
  if (!tail) { return; }
  var source = tail.getAttribute("data-source");
  var since = Number(tail.getAttribute("data-since")) || 0;
  var seen = new Set();
  tail.querySelectorAll("[data-id]").forEach(function (line) { seen.add(line.getAttribute("data-id")); });

  function clock(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  function poll() {
    fetch(source + "?since=" + since, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (events) {
        events.forEach(function (event) {
          since = Math.max(since, event.timestamp);
          if (seen.has(event.id)) { return; }
          seen.add(event.id);
          var line = document.createElement("span");
          line.setAttribute("data-id", event.id);
          line.textContent = clock(event.timestamp) + " " + event.message;
          tail.appendChild(line);
          if (!/\n$/.test(event.message)) { tail.appendChild(document.createTextNode("\n")); }
        });
      })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);
})();

// Live updates for task and tournament pages: follow the event stream and re-fetch
// the page's live part when something happens. Pages work without this.
(function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource || live.dataset.done === "true") return;
  var url = live.dataset.events + "?after=" + encodeURIComponent(live.dataset.after || "0");
  var es = new EventSource(url), timer = null;
  function refresh() {
    timer = null;
    fetch(location.href, {credentials: "same-origin"}).then(function (r) { return r.text(); }).then(function (html) {
      var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
      if (next) live.innerHTML = next.innerHTML;
    });
  }
  function soon() { if (!timer) timer = setTimeout(refresh, 250); }
  ["status", "progress", "log", "round", "match", "task", "entry", "announce"].forEach(function (k) { es.addEventListener(k, soon); });
  es.addEventListener("end", function () { es.close(); soon(); });
})();

// Progress bars fed by a job: <div data-job-url="…"> holding .progress > div and .job-text.
(function () {
  function poll(box) {
    var url = box.getAttribute("data-job-url");
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (job) {
        var share = job.total ? Math.min(100, Math.round(100 * job.done / job.total)) : (job.status === "done" ? 100 : 0);
        var bar = box.querySelector("progress");
        bar.value = share;
        bar.textContent = share + "%";
        box.querySelector(".job-text").textContent = job.text;
        if (job.status === "done" || job.status === "failed") {
          box.setAttribute("data-status", job.status);
          if (box.getAttribute("data-reload") === "1") { window.location.reload(); }
          return;
        }
        setTimeout(function () { poll(box); }, 700);
      })
      .catch(function () { setTimeout(function () { poll(box); }, 2000); });
  }
  document.querySelectorAll("[data-job-url]").forEach(function (box) {
    if (box.getAttribute("data-status") !== "done" && box.getAttribute("data-status") !== "failed") { poll(box); }
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
})();

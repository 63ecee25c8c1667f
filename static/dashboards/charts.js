/* Draws each dashboard's charts with Chart.js from the numbers the page embeds
   (<script id="chart-data" type="application/json">); the same numbers are in the tables. */
(function () {
  "use strict";
  // One colour per meaning, the same on every page (statuses as the console's badges).
  var COLOURS = {
    trial: "#2b6cb0", active: "#2f855a", converted: "#2f855a", suspended: "#c05621",
    expired: "#718096", uninstalled: "#a0aec0", installs: "#2f855a", uninstalls: "#c53030",
    net: "#2b6cb0", retained30: "#2c5282", retained60: "#3182ce", retained90: "#90cdf4",
    version: "#2b6cb0", latest: "#2f855a", share: "#2b6cb0"
  };

  function data() {
    var node = document.getElementById("chart-data");
    return node ? JSON.parse(node.textContent) : null;
  }

  function month(iso) { return iso.slice(0, 7); }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    new window.Chart(canvas, config);
  }

  var percentAxis = { beginAtZero: true, max: 100, ticks: { callback: function (v) { return v + "%"; } } };

  function growth(d) {
    draw("chart-growth", {
      type: "bar",
      data: {
        labels: d.weeks.map(function (w) { return w.week; }),
        datasets: [
          { label: "Installs", data: d.weeks.map(function (w) { return w.installs.value; }), backgroundColor: COLOURS.installs },
          { label: "Uninstalls", data: d.weeks.map(function (w) { return -w.uninstalls.value; }), backgroundColor: COLOURS.uninstalls },
          { label: "Net growth", type: "line", data: d.weeks.map(function (w) { return w.net; }), borderColor: COLOURS.net, backgroundColor: COLOURS.net }
        ]
      },
      options: { scales: { x: { stacked: true }, y: { stacked: false } } }
    });
  }

  function conversion(d) {
    var outcomes = d.cohorts.length ? d.cohorts[0].outcomes.map(function (o) { return o; }) : [];
    draw("chart-conversion", {
      type: "bar",
      data: {
        labels: d.cohorts.map(function (c) { return month(c.month); }),
        datasets: outcomes.map(function (o, i) {
          return {
            label: o.label,
            backgroundColor: COLOURS[o.outcome],
            data: d.cohorts.map(function (c) { return c.outcomes[i].share === null ? 0 : c.outcomes[i].share * 100; })
          };
        })
      },
      options: { scales: { x: { stacked: true }, y: Object.assign({ stacked: true }, percentAxis) } }
    });
  }

  function churn(d) {
    var statuses = d.months.length ? d.months[0].by_status : [];
    draw("chart-churn", {
      type: "bar",
      data: {
        labels: d.months.map(function (m) { return month(m.month); }),
        datasets: statuses.map(function (s, i) {
          return { label: s.label, backgroundColor: COLOURS[s.status], data: d.months.map(function (m) { return m.by_status[i].figure.value; }) };
        })
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }
    });
    var spans = d.months.length ? d.months[0].retention : [];
    draw("chart-retention", {
      type: "line",
      data: {
        labels: d.months.map(function (m) { return month(m.month); }),
        datasets: spans.map(function (r, i) {
          var colour = COLOURS["retained" + r.days];
          return {
            label: "after " + r.days + " days", borderColor: colour, backgroundColor: colour, spanGaps: false,
            data: d.months.map(function (m) { var x = m.retention[i]; return x.share === null ? null : x.share * 100; })
          };
        })
      },
      options: { scales: { y: percentAxis } }
    });
  }

  function versions(d) {
    d.forEach(function (p, index) {
      draw("chart-versions-" + index, {
        type: "bar",
        data: {
          labels: p.versions.map(function (v) { return v.label; }),
          datasets: [{ label: "Live installs", backgroundColor: COLOURS.version, data: p.versions.map(function (v) { return v.value; }) }]
        },
        options: { plugins: { legend: { display: false } } }
      });
    });
  }

  function features(d) {
    draw("chart-features", {
      type: "bar",
      data: {
        labels: d.map(function (r) { return r.label; }),
        datasets: [{ label: "Share of live licenses on", backgroundColor: COLOURS.share, data: d.map(function (r) { return r.value === null ? 0 : r.value * 100; }) }]
      },
      options: { indexAxis: "y", scales: { x: percentAxis }, plugins: { legend: { display: false } } }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var d = data();
    if (!d || !window.Chart) { return; }
    if (document.getElementById("chart-growth")) { growth(d); }
    if (document.getElementById("chart-conversion")) { conversion(d); }
    if (document.getElementById("chart-churn")) { churn(d); }
    if (document.querySelector(".chart-versions")) { versions(d); }
    if (document.getElementById("chart-features")) { features(d); }
  });
})();

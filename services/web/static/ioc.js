// The wall screen: draws the trend, keeps the clock and the deadline countdown ticking, and applies
// each snapshot the web service pushes (server-sent events). EventSource reconnects by itself; while it
// cannot, a banner says since when. Nothing here grows with time: the screen may stay open for weeks.
(function () {
  "use strict";
  var state = JSON.parse(document.getElementById("ioc-data").textContent);
  var panels = document.getElementById("panels");
  var linkBanner = document.getElementById("link-banner");
  var countdown = document.getElementById("countdown");
  var clock = document.getElementById("clock");
  var trendBox = document.getElementById("trend");
  var lostSince = null;
  var zone = { timeZone: "Asia/Ho_Chi_Minh" };
  var hhmm = new Intl.DateTimeFormat("vi-VN", Object.assign({ hour: "2-digit", minute: "2-digit", hour12: false }, zone));
  var ddmm = dayMonth(new Intl.DateTimeFormat("vi-VN", Object.assign({ day: "2-digit", month: "2-digit" }, zone)));
  // dd/mm as Vietnamese dates are written (the locale's own day-month pattern joins them with "-").
  function dayMonth(parts) {
    return { format: function (date) {
      var p = {};
      parts.formatToParts(date).forEach(function (x) { p[x.type] = x.value; });
      return p.day + "/" + p.month;
    } };
  }
  var full = new Intl.DateTimeFormat("vi-VN", Object.assign({ hour: "2-digit", minute: "2-digit", second: "2-digit", day: "2-digit", month: "2-digit", year: "numeric", hour12: false }, zone));
  var numbers = new Intl.NumberFormat("vi-VN");

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    clock.textContent = full.format(new Date());
    if (!state.deadline) { countdown.textContent = "–"; return; }
    var left = Math.round((Date.parse(state.deadline) - Date.now()) / 1000);
    var past = left <= 0;
    var s = Math.abs(left);
    var days = Math.floor(s / 86400);
    var rest = pad(Math.floor(s % 86400 / 3600)) + ":" + pad(Math.floor(s % 3600 / 60)) + ":" + pad(s % 60);
    var text = (days ? days + " ngày " : "") + rest;
    countdown.textContent = past ? "Đã quá hạn " + text : "Còn " + text;
    countdown.classList.toggle("countdown--past", past);
  }

  function series(trend) {
    return [
      trend.days.map(function (d) { return Date.parse(d + "T12:00:00+07:00") / 1000; }),
      trend.staff,
      trend.citizens,
    ];
  }

  var chart = null;
  function drawChart() {
    var width = trendBox.clientWidth, height = Math.max(120, trendBox.clientHeight);
    var axis = { stroke: "#c9d8e8", grid: { stroke: "#2a4a6b" }, ticks: { stroke: "#2a4a6b" }, font: "20px sans-serif" };
    chart = new uPlot({
      width: width, height: height, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: true } },
      axes: [
        Object.assign({}, axis, { space: 90, values: function (u, ticks) { return ticks.map(function (t) { return ddmm.format(new Date(t * 1000)); }); } }),
        Object.assign({}, axis, { size: 90, values: function (u, ticks) { return ticks.map(function (t) { return numbers.format(t); }); } }),
      ],
      series: [
        {},
        { label: "Cán bộ", stroke: "#6cc4ff", width: 4, points: { show: false } },
        { label: "Người dân", stroke: "#ffc94d", width: 4, dash: [12, 8], points: { show: false } },
      ],
    }, series(state.trend), trendBox);
  }

  function showLost(text) {
    linkBanner.textContent = text;
    linkBanner.hidden = !text;
  }

  function apply(snapshot) {
    if (snapshot.html !== undefined) panels.innerHTML = snapshot.html;
    state.deadline = snapshot.deadline;
    state.trend = snapshot.trend;
    if (chart) chart.setData(series(state.trend));
    tick();
  }

  function connect() {
    var source = new EventSource("/ioc/su-kien");
    source.addEventListener("snapshot", function (e) { apply(JSON.parse(e.data)); });
    source.onopen = function () { lostSince = null; showLost(""); };
    source.onerror = function () {
      if (!lostSince) {
        lostSince = new Date();
        showLost("⚠ Mất kết nối từ " + hhmm.format(lostSince) + " — đang hiển thị số liệu cuối cùng, tự kết nối lại.");
      }
      if (source.readyState === EventSource.CLOSED) {
        // Refused, or the server is away: once it answers again, reconnect, or go to the sign-in page
        // when the session has ended.
        source.close();
        setTimeout(retry, 5000);
      }
    };
  }

  function retry() {
    fetch("/ioc", { redirect: "manual", credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (r.type === "opaqueredirect" || r.status === 403) { window.location.href = "/ioc"; return; }
      if (!r.ok) { setTimeout(retry, 5000); return; }
      connect();
    }).catch(function () { setTimeout(retry, 5000); });
  }

  drawChart();
  tick();
  setInterval(tick, 1000);
  window.addEventListener("resize", function () { if (chart) chart.setSize({ width: trendBox.clientWidth, height: Math.max(120, trendBox.clientHeight) }); });
  document.body.dataset.ready = "true";
  connect();
})();

// A unit's adoption trend (uPlot), from the JSON the page carries; the table below says the same in words.
(function () {
  "use strict";
  var box = document.getElementById("trend");
  var data = JSON.parse(document.getElementById("trend-data").textContent);
  if (!box || !data.days.length) { if (box) box.hidden = true; return; }
  var ddmm = dayMonth(new Intl.DateTimeFormat("vi-VN", { day: "2-digit", month: "2-digit", timeZone: "Asia/Ho_Chi_Minh" }));
  // dd/mm as Vietnamese dates are written (the locale's own day-month pattern joins them with "-").
  function dayMonth(parts) {
    return { format: function (date) {
      var p = {};
      parts.formatToParts(date).forEach(function (x) { p[x.type] = x.value; });
      return p.day + "/" + p.month;
    } };
  }
  var numbers = new Intl.NumberFormat("vi-VN");
  new uPlot({
    width: box.clientWidth, height: 300, cursor: { show: false },
    axes: [
      { values: function (u, ticks) { return ticks.map(function (t) { return ddmm.format(new Date(t * 1000)); }); } },
      { size: 70, values: function (u, ticks) { return ticks.map(function (t) { return numbers.format(t); }); } },
    ],
    series: [
      { value: function (u, t) { return t == null ? "" : ddmm.format(new Date(t * 1000)); } },
      { label: "Cán bộ", stroke: "#1d4f91", width: 3, points: { show: false } },
      { label: "Người dân", stroke: "#8a4b00", width: 3, dash: [10, 6], points: { show: false } },
    ],
  }, [data.days.map(function (d) { return Date.parse(d + "T12:00:00+07:00") / 1000; }), data.staff, data.citizens], box);
})();

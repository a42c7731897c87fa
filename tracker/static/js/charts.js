// Report charts (Apache ECharts, served from /static). No inline scripts: every element with
// data-chart names its kind (line | hbar | pie) and, in data-source, the id of a
// <script type="application/json"> block holding {labels, series: [{name, data, links}], colors?}.
// Clicking a point opens the link of that point (the ledger or inbox filter behind the number).
(function () {
  "use strict";
  var FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "WenQuanYi Micro Hei", sans-serif';
  var PALETTE = ["#12325c", "#c0392b", "#2e6db4", "#d4a017", "#5b7083", "#8e44ad", "#16a085"];
  var TEXT = "#394455";
  var GRID_LINE = "#e3e7ee";

  function read(id) {
    var block = document.getElementById(id);
    return block ? JSON.parse(block.textContent) : null;
  }

  function base() {
    return {
      animation: false, // prints and screenshots show the final picture
      color: PALETTE,
      backgroundColor: "#fff",
      textStyle: { fontFamily: FONT, color: TEXT, fontSize: 12 },
      tooltip: { confine: true, textStyle: { fontFamily: FONT } },
    };
  }

  function line(data) {
    var option = base();
    option.tooltip.trigger = "axis";
    option.legend = { top: 0, textStyle: { fontFamily: FONT, color: TEXT } };
    option.grid = { left: 44, right: 16, top: 32, bottom: 28 };
    option.xAxis = { type: "category", data: data.labels, boundaryGap: false, axisLine: { lineStyle: { color: "#9aa3af" } } };
    option.yAxis = { type: "value", minInterval: 1, splitLine: { lineStyle: { color: GRID_LINE } } };
    option.series = data.series.map(function (s, i) {
      return { name: s.name, type: "line", data: s.data, symbolSize: 7, lineStyle: { width: 2, type: i ? "dashed" : "solid" } };
    });
    return option;
  }

  function hbar(data) {
    var option = base();
    option.tooltip.trigger = "item";
    option.grid = { left: 8, right: 40, top: 8, bottom: 8, containLabel: true };
    option.xAxis = { type: "value", minInterval: 1, splitLine: { lineStyle: { color: GRID_LINE } } };
    option.yAxis = {
      type: "category",
      data: data.labels,
      inverse: true, // the largest first, at the top
      axisTick: { show: false },
      axisLabel: { width: 130, overflow: "truncate" },
    };
    option.series = data.series.map(function (s) {
      return {
        name: s.name,
        type: "bar",
        data: s.data,
        barMaxWidth: 18,
        itemStyle: { color: data.color || "#c0392b" },
        label: { show: true, position: "right", color: TEXT },
        cursor: "pointer",
      };
    });
    return option;
  }

  function pie(data) {
    var option = base();
    option.tooltip.trigger = "item";
    option.tooltip.formatter = "{b}：{c}（{d}%）";
    option.legend = { orient: "vertical", left: 8, top: "middle", textStyle: { fontFamily: FONT, color: TEXT } };
    var s = data.series[0];
    option.series = [{
      name: s.name,
      type: "pie",
      radius: ["38%", "68%"],
      center: ["60%", "52%"],
      label: { formatter: "{b} {c}", color: TEXT },
      itemStyle: { borderColor: "#fff", borderWidth: 2 },
      data: s.data.map(function (value, i) {
        var shown = value > 0; // no label or leader line for an empty slice
        return {
          name: data.labels[i],
          value: value,
          itemStyle: data.colors ? { color: data.colors[i] } : undefined,
          label: { show: shown },
          labelLine: { show: shown },
        };
      }),
    }];
    return option;
  }

  var KINDS = { line: line, hbar: hbar, pie: pie };

  function draw(box) {
    var data = read(box.getAttribute("data-source"));
    var build = KINDS[box.getAttribute("data-chart")];
    if (!data || !build || typeof window.echarts === "undefined") { return null; }
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption(build(data));
    chart.on("click", function (params) {
      var series = data.series[params.seriesIndex] || data.series[0];
      var href = series && series.links && series.links[params.dataIndex];
      if (href) { window.location.assign(href); }
    });
    box.chart = chart; // for the browser tests and the print handler
    return chart;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var charts = [];
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), function (box) {
      var chart = draw(box);
      if (chart) { charts.push(chart); }
    });
    function resize() { charts.forEach(function (chart) { chart.resize(); }); }
    window.addEventListener("resize", resize);
    window.addEventListener("beforeprint", resize);
    window.addEventListener("afterprint", resize);
  });
})();

/* siting-map.js: draws the layers that siting.maps (Python) describes as JSON.
 *
 * Safety: every string from the data is put into the page with textContent or as a DOM
 * node; the one place Leaflet reads a string as HTML (layer-control names) gets an
 * escaped string. Nothing here calls innerHTML with data.
 *
 * window.siting.maps lists the drawn maps: {map, layers: {name: layer}, payload, drawMs}.
 */
(function () {
  "use strict";
  var S = (window.siting = window.siting || {});
  S.maps = S.maps || [];

  var EARTH_M = 40075016.686; // circumference of the Web Mercator sphere, metres

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  /* A popup: a title and [label, value] rows, all as text (a row whose value is ""
   * is a heading). */
  function card(title, rows) {
    var box = el("div", "siting-card");
    if (title) box.appendChild(el("div", "siting-card-title", title));
    if (rows && rows.length) {
      var table = el("table");
      rows.forEach(function (r) {
        var tr = el("tr");
        if (r[1] === "") {
          // a row without a value heads the rows after it
          var th = el("th", "siting-card-section", r[0]);
          th.colSpan = 2;
          tr.appendChild(th);
        } else {
          tr.appendChild(el("th", null, r[0]));
          tr.appendChild(el("td", null, r[1]));
        }
        table.appendChild(tr);
      });
      box.appendChild(table);
    }
    return box;
  }
  S.card = card;

  function fromDeltas(deltas) {
    var out = new Float64Array(deltas.length), v = 0;
    for (var i = 0; i < deltas.length; i++) {
      v += deltas[i];
      out[i] = v / 1e5;
    }
    return out;
  }

  function formatNumber(n, lang) {
    return Math.round(n).toLocaleString(lang === "zh" ? "zh-CN" : "en-US");
  }

  /* ------------------------------------------------------------------ cells
   * Demand as squares on one canvas: positions projected once to Web Mercator
   * (0..1), drawn per colour and opacity band; the hover box finds the cell under
   * the pointer in a hash grid. */
  var CellLayer = L.Layer.extend({
    initialize: function (spec, info, lang, z) {
      this.spec = spec;
      this.z = z;
      this.info = info;
      this.lang = lang;
      var lon = fromDeltas(spec.x), lat = fromDeltas(spec.y), n = lon.length;
      this.mx = new Float64Array(n);
      this.my = new Float64Array(n);
      for (var i = 0; i < n; i++) {
        var phi = Math.max(-85.0511, Math.min(85.0511, lat[i])) * Math.PI / 180;
        this.mx[i] = (lon[i] + 180) / 360;
        this.my[i] = (1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2;
      }
      // one cell in Mercator units (0..1 world) at the layer's mean latitude
      this.unit = spec.size_m / (EARTH_M * Math.cos(spec.lat0 * Math.PI / 180));
      this.groups = this._groups();
    },

    _groups: function () {
      // draw order: colour class, then opacity band (4 bands by persons)
      var spec = this.spec, bands = 4, n = spec.pop.length, ref = Math.max(spec.alpha_ref, 1e-9);
      var key = new Int32Array(n), counts = new Int32Array(spec.colours.length * bands);
      for (var i = 0; i < n; i++) {
        var band = Math.min(bands - 1, Math.floor(Math.sqrt(spec.pop[i] / 10 / ref) * bands));
        key[i] = (spec.cls.charCodeAt(i) - 48) * bands + band;
        counts[key[i]]++;
      }
      var groups = [];
      for (var k = 0; k < counts.length; k++) {
        groups.push({
          colour: spec.colours[Math.floor(k / bands)],
          alpha: 0.45 + 0.5 * ((k % bands) + 1) / bands,
          index: new Int32Array(counts[k]),
          fill: 0,
        });
      }
      for (var j = 0; j < n; j++) {
        var g = groups[key[j]];
        g.index[g.fill++] = j;
      }
      return groups.filter(function (g) { return g.fill > 0; });
    },

    onAdd: function (map) {
      this._map = map;
      var paneName = pane(map, "siting" + this.z, this.z), p = map.getPane(paneName);
      p.style.pointerEvents = "none";
      this._canvas = L.DomUtil.create("canvas", "siting-cells leaflet-zoom-hide", p);
      map.on("moveend resize viewreset", this._schedule, this);
      map.on("mousemove", this._hover, this);
      map.on("mouseout", this._clearInfo, this);
      this.redraw();
    },

    onRemove: function (map) {
      L.DomUtil.remove(this._canvas);
      map.off("moveend resize viewreset", this._schedule, this);
      map.off("mousemove", this._hover, this);
      map.off("mouseout", this._clearInfo, this);
      this._clearInfo();
    },

    /* One redraw per animation frame, however many view events arrive. */
    _schedule: function () {
      var self = this;
      if (self._pending) return;
      self._pending = L.Util.requestAnimFrame(function () {
        self._pending = null;
        self.redraw();
      });
    },

    _frame: function () {
      var map = this._map, scale = 256 * Math.pow(2, map.getZoom());
      var topLeft = map.containerPointToLayerPoint([0, 0]);
      var origin = topLeft.add(map.getPixelOrigin());
      return { scale: scale, ox: origin.x, oy: origin.y, topLeft: topLeft };
    },

    redraw: function () {
      var map = this._map;
      if (!map) return;
      var size = map.getSize(), ratio = window.devicePixelRatio || 1, f = this._frame();
      var canvas = this._canvas;
      L.DomUtil.setPosition(canvas, f.topLeft);
      canvas.width = size.x * ratio;
      canvas.height = size.y * ratio;
      canvas.style.width = size.x + "px";
      canvas.style.height = size.y + "px";
      var ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      var s = Math.max(2, this.unit * f.scale), h = s / 2;
      var mx = this.mx, my = this.my, w = size.x + s, hgt = size.y + s;
      this.groups.forEach(function (g) {
        ctx.fillStyle = g.colour;
        ctx.globalAlpha = g.alpha;
        var idx = g.index;
        for (var k = 0; k < idx.length; k++) {
          var i = idx[k], x = mx[i] * f.scale - f.ox, y = my[i] * f.scale - f.oy;
          if (x < -s || y < -s || x > w || y > hgt) continue;
          ctx.fillRect(x - h, y - h, s, s);
        }
      });
      ctx.globalAlpha = 1;
      this.drawn = (this.drawn || 0) + 1;
    },

    _index: function () {
      if (this._hash) return this._hash;
      var hash = new Map(), u = this.unit;
      for (var i = 0; i < this.mx.length; i++) {
        var key = Math.floor(this.mx[i] / u) + "," + Math.floor(this.my[i] / u);
        var list = hash.get(key);
        if (list) list.push(i);
        else hash.set(key, [i]);
      }
      return (this._hash = hash);
    },

    /* The cell under a point (Mercator units), or -1. */
    cellAt: function (x, y, tolerance) {
      var hash = this._index(), u = this.unit, best = -1, bestD = tolerance * tolerance;
      var cx = Math.floor(x / u), cy = Math.floor(y / u);
      for (var dx = -1; dx <= 1; dx++) {
        for (var dy = -1; dy <= 1; dy++) {
          var list = hash.get(cx + dx + "," + (cy + dy)) || [];
          for (var k = 0; k < list.length; k++) {
            var i = list[k], ex = this.mx[i] - x, ey = this.my[i] - y, d = ex * ex + ey * ey;
            if (d <= bestD) { best = i; bestD = d; }
          }
        }
      }
      return best;
    },

    _hover: function (e) {
      var f = this._frame(), p = this._map.project(e.latlng, this._map.getZoom());
      var tol = Math.max(this.unit * 0.75, 4 / f.scale);
      var i = this.cellAt(p.x / f.scale, p.y / f.scale, tol);
      if (i < 0) return this._clearInfo();
      var spec = this.spec, persons = spec.unit.replace("{n}", formatNumber(spec.pop[i] / 10, this.lang));
      this.info.show(card(spec.labels[spec.cls.charCodeAt(i) - 48], [[spec.name, persons]]));
    },

    _clearInfo: function () {
      this.info.show(null);
    },
  });

  /* ------------------------------------------------------------------ controls */
  var InfoControl = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      this._div = el("div", "siting-info");
      this._div.style.display = "none";
      return this._div;
    },
    show: function (node) {
      if (!this._div) return;
      while (this._div.firstChild) this._div.removeChild(this._div.firstChild);
      if (node) this._div.appendChild(node);
      this._div.style.display = node ? "" : "none";
    },
  });

  var LegendControl = L.Control.extend({
    options: { position: "bottomleft" },
    initialize: function (legend) {
      this.legend = legend;
    },
    onAdd: function () {
      var box = el("div", "siting-legend"), legend = this.legend;
      if (legend.title) box.appendChild(el("div", "siting-legend-title", legend.title));
      (legend.sections || []).forEach(function (section) {
        if (section.title) box.appendChild(el("div", "siting-legend-section", section.title));
        section.items.forEach(function (item) {
          var row = el("div", "siting-legend-item");
          var swatch = el("span", "siting-swatch siting-swatch-" + item.shape);
          swatch.style.setProperty("--c", item.colour);
          row.appendChild(swatch);
          row.appendChild(el("span", null, item.label));
          box.appendChild(row);
        });
      });
      (legend.notes || []).forEach(function (note) {
        box.appendChild(el("div", "siting-legend-note", note));
      });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    },
  });

  /* ------------------------------------------------------------------ layers */
  function pane(map, name, z) {
    var p = map.getPane(name) || map.createPane(name);
    p.style.zIndex = z;
    return name;
  }

  function polygons(spec, map, z) {
    var paneName = pane(map, "siting" + z, z);
    var style = spec.style;
    var collection = {
      type: "FeatureCollection",
      features: spec.features.map(function (f) {
        return { type: "Feature", geometry: f.g, properties: f };
      }),
    };
    var interactive = spec.features.some(function (f) { return f.title || f.tip; });
    return L.geoJSON(collection, {
      pane: paneName,
      interactive: interactive,
      style: function (feature) {
        var p = feature.properties;
        return {
          color: style.color,
          weight: style.weight,
          dashArray: style.dashArray || null,
          fillColor: p.fill || style.fillColor || style.color,
          fillOpacity: style.fillOpacity,
          fill: style.fillOpacity > 0,
        };
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        if (p.title || p.rows) {
          layer.bindPopup(function () { return card(p.title, p.rows); }, { maxWidth: 360 });
        }
        if (p.tip) {
          layer.bindTooltip(function () { return el("span", null, p.tip); }, { sticky: true });
        }
      },
    });
  }

  function points(spec, map) {
    var group = L.featureGroup();
    var size = spec.symbol === "diamond" ? 15 : 13;
    for (var i = 0; i < spec.lon.length; i++) {
      (function (i) {
        var icon = L.divIcon({
          className: "siting-site siting-site-" + spec.symbol,
          iconSize: [size, size],
          html: "",
        });
        var marker = L.marker([spec.lat[i] / 1e5, spec.lon[i] / 1e5], {
          icon: icon,
          keyboard: false,
          riseOnHover: true,
          zIndexOffset: spec.symbol === "diamond" ? 1000 : 0,
        });
        marker.bindTooltip(function () { return el("span", null, spec.titles[i]); }, {
          direction: "top",
          offset: [0, -6],
        });
        marker.bindPopup(function () { return card(spec.titles[i], spec.rows[i]); }, {
          maxWidth: 360,
        });
        group.addLayer(marker);
      })(i);
    }
    group.on("add", function () {
      group.eachLayer(function (m) {
        var node = m.getElement();
        if (node) node.style.setProperty("--c", spec.colour);
      });
    });
    return group;
  }

  function tiles(payload) {
    return (payload.tiles || []).map(function (t) {
      return L.tileLayer(t.url, t.options);
    });
  }

  /* Draw a payload on a Leaflet map; returns the registry entry. */
  S.draw = function (map, payload) {
    var start = performance.now();
    var entry = { map: map, layers: {}, payload: payload, timings: {} };
    S.maps.push(entry);
    map.fitBounds(payload.bounds, { padding: [12, 12], animate: false });
    var basemap = tiles(payload);
    basemap.forEach(function (t) { t.addTo(map); });
    if (!basemap.length) map.getContainer().classList.add("siting-no-tiles");
    var info = new InfoControl();
    info.addTo(map);
    var control = L.control.layers(null, null, { collapsed: false, position: "topright" });
    var z = 400;
    payload.layers.forEach(function (spec) {
      var layer, t0 = performance.now();
      if (spec.kind === "cells") layer = new CellLayer(spec, info, payload.lang, (z += 5));
      else if (spec.kind === "polygons") layer = polygons(spec, map, (z += 5));
      else if (spec.kind === "points") layer = points(spec, map);
      else {
        console.error("siting: unknown layer kind " + spec.kind);
        return;
      }
      entry.layers[spec.name] = layer;
      control.addOverlay(layer, escapeHtml(spec.name));
      if (spec.show) layer.addTo(map);
      entry.timings[spec.name] = performance.now() - t0;
    });
    control.addTo(map);
    if (payload.legend) new LegendControl(payload.legend).addTo(map);
    entry.drawMs = performance.now() - start;
    entry.readyAt = performance.now();
    return entry;
  };
})();

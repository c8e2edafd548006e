// The object-detection box editor: draw, move, resize, delete, label, zoom.
// Boxes are kept in image pixels ({x1, y1, x2, y2}, x1 < x2, y1 < y2) and saved as ModelArts
// bndbox labels: property "@modelarts:shape": "bndbox", "@modelarts:feature": [[x1, y1], [x2, y2]].
"use strict";

var LabelArtsBoxes = (function () {
  var MIN_SIZE = 4;

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  // Pure geometry: what a gesture does to a box, inside an image of width w and height h.
  function normalise(box, w, h) {
    var x1 = clamp(Math.min(box.x1, box.x2), 0, w), x2 = clamp(Math.max(box.x1, box.x2), 0, w);
    var y1 = clamp(Math.min(box.y1, box.y2), 0, h), y2 = clamp(Math.max(box.y1, box.y2), 0, h);
    return { label: box.label, type: box.type, x1: Math.round(x1), y1: Math.round(y1), x2: Math.round(x2), y2: Math.round(y2) };
  }
  function moved(box, dx, dy, w, h) {
    var bw = box.x2 - box.x1, bh = box.y2 - box.y1;
    var x1 = clamp(box.x1 + dx, 0, w - bw), y1 = clamp(box.y1 + dy, 0, h - bh);
    return normalise({ label: box.label, type: box.type, x1: x1, y1: y1, x2: x1 + bw, y2: y1 + bh }, w, h);
  }
  function resized(box, dx, dy, w, h) {
    var x2 = Math.max(box.x1 + MIN_SIZE, box.x2 + dx), y2 = Math.max(box.y1 + MIN_SIZE, box.y2 + dy);
    return normalise({ label: box.label, type: box.type, x1: box.x1, y1: box.y1, x2: x2, y2: y2 }, w, h);
  }
  function big(box) { return box.x2 - box.x1 >= MIN_SIZE && box.y2 - box.y1 >= MIN_SIZE; }
  function fromLabel(label) {
    var p = label.property || {}, f = p["@modelarts:feature"];
    if (p["@modelarts:shape"] !== "bndbox" || !f || f.length !== 2) return null;
    return { label: label.name, type: label.type, x1: f[0][0], y1: f[0][1], x2: f[1][0], y2: f[1][1] };
  }
  function toLabel(box) {
    return { name: box.label, type: box.type, property: {
      "@modelarts:shape": "bndbox", "@modelarts:feature": [[box.x1, box.y1], [box.x2, box.y2]] } };
  }
  return { normalise: normalise, moved: moved, resized: resized, big: big, fromLabel: fromLabel, toLabel: toLabel };
})();

(function () {
  var node = document.getElementById("boxes-data");
  if (!node) return;
  var data = JSON.parse(node.textContent);
  var csrf = document.getElementById("csrf").value;
  var svg = document.getElementById("editor");
  var NS = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };
  var B = LabelArtsBoxes;
  var boxes = data.sample.labels.map(B.fromLabel).filter(Boolean);
  var selected = boxes.length ? 0 : -1;
  var zoom = 1, width = 0, height = 0;
  var gesture = null;

  function say(text, bad) { var m = $("message"); m.textContent = text; m.className = bad ? "error" : ""; }

  function point(event) {
    var p = svg.createSVGPoint();
    p.x = event.clientX; p.y = event.clientY;
    var q = p.matrixTransform(svg.getScreenCTM().inverse());
    return { x: q.x, y: q.y };
  }
  function currentLabel() {
    var select = $("box-label"), option = select.options[select.selectedIndex];
    return option ? { name: option.value, type: Number(option.dataset.type) } : null;
  }

  function draw() {
    svg.querySelectorAll("g.box").forEach(function (g) { g.remove(); });
    boxes.forEach(function (box, i) {
      var g = document.createElementNS(NS, "g");
      g.setAttribute("class", "box" + (i === selected ? " selected" : ""));
      g.dataset.index = String(i);
      var rect = document.createElementNS(NS, "rect");
      rect.setAttribute("x", box.x1); rect.setAttribute("y", box.y1);
      rect.setAttribute("width", box.x2 - box.x1); rect.setAttribute("height", box.y2 - box.y1);
      rect.setAttribute("class", "body");
      rect.dataset.role = "move";
      var handle = document.createElementNS(NS, "rect");
      var hs = 10 / zoom;
      handle.setAttribute("x", box.x2 - hs / 2); handle.setAttribute("y", box.y2 - hs / 2);
      handle.setAttribute("width", hs); handle.setAttribute("height", hs);
      handle.setAttribute("class", "handle");
      handle.dataset.role = "resize";
      var text = document.createElementNS(NS, "text");
      text.setAttribute("x", box.x1 + 2); text.setAttribute("y", Math.max(12, box.y1 - 3));
      text.textContent = box.label;
      g.appendChild(rect); g.appendChild(handle); g.appendChild(text);
      svg.appendChild(g);
    });
    var list = $("box-list");
    list.textContent = "";
    boxes.forEach(function (box, i) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = box.label + " (" + box.x1 + ", " + box.y1 + ") – (" + box.x2 + ", " + box.y2 + ")";
      button.setAttribute("aria-pressed", i === selected ? "true" : "false");
      button.addEventListener("click", function () { selected = i; draw(); });
      li.appendChild(button);
      list.appendChild(li);
    });
    svg.dataset.count = String(boxes.length);
  }

  function setZoom(value) {
    zoom = Math.min(4, Math.max(0.25, value));
    svg.setAttribute("width", Math.round(width * zoom));
    svg.setAttribute("height", Math.round(height * zoom));
    $("zoom-level").textContent = Math.round(zoom * 100) + "%";
    draw();
  }

  svg.addEventListener("pointerdown", function (event) {
    var start = point(event);
    var target = event.target, role = target.dataset && target.dataset.role;
    var g = target.closest && target.closest("g.box");
    if (g && role) {
      selected = Number(g.dataset.index);
      gesture = { kind: role, start: start, box: boxes[selected] };
    } else {
      var label = currentLabel();
      if (!label) { say("Add a label to the dataset first.", true); return; }
      boxes.push({ label: label.name, type: label.type, x1: start.x, y1: start.y, x2: start.x, y2: start.y });
      selected = boxes.length - 1;
      gesture = { kind: "draw", start: start, box: boxes[selected] };
    }
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
    draw();
  });
  svg.addEventListener("pointermove", function (event) {
    if (!gesture) return;
    var p = point(event), dx = p.x - gesture.start.x, dy = p.y - gesture.start.y, b = gesture.box;
    if (gesture.kind === "draw") {
      boxes[selected] = B.normalise({ label: b.label, type: b.type, x1: b.x1, y1: b.y1, x2: p.x, y2: p.y }, width, height);
    } else if (gesture.kind === "move") {
      boxes[selected] = B.moved(b, dx, dy, width, height);
    } else {
      boxes[selected] = B.resized(b, dx, dy, width, height);
    }
    draw();
  });
  function end() {
    if (!gesture) return;
    // A click on the picture without a drag draws nothing and leaves no box selected.
    if (gesture.kind === "draw" && !B.big(boxes[selected])) { boxes.splice(selected, 1); selected = -1; }
    gesture = null;
    draw();
  }
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointercancel", end);

  function removeSelected() {
    if (selected < 0) return;
    boxes.splice(selected, 1);
    selected = Math.min(selected, boxes.length - 1);
    draw();
  }

  function save() {
    say("Saving…");
    // In a team labeling queue the boxes go to the task (data.save_url), not the dataset.
    var url = data.save_url ? data.save_url.replace("{sample}", encodeURIComponent(data.sample.id))
      : "/ui/datasets/" + data.dataset_id + "/samples/" + encodeURIComponent(data.sample.id) + "/labels";
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ labels: boxes.map(B.toLabel) }),
      credentials: "same-origin",
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error_msg || ("HTTP " + r.status));
        say("Saved " + boxes.length + " box" + (boxes.length === 1 ? "" : "es") + ".");
        svg.dataset.saved = String(boxes.length);
        return true;
      });
    }).catch(function (error) { say(error.message, true); });
  }

  $("box-label").addEventListener("change", function () {
    var label = currentLabel();
    if (selected >= 0 && label) { boxes[selected].label = label.name; boxes[selected].type = label.type; draw(); }
  });
  $("delete-box").addEventListener("click", removeSelected);
  $("save-boxes").addEventListener("click", save);
  // The team queue: Enter saves and opens the next sample of the queue.
  function saveAndNext() {
    save().then(function (saved) { if (saved) window.location.href = data.next_url; });
  }
  if (data.next_url) $("save-next").addEventListener("click", saveAndNext);
  $("zoom-in").addEventListener("click", function () { setZoom(zoom * 1.25); });
  $("zoom-out").addEventListener("click", function () { setZoom(zoom / 1.25); });
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || event.ctrlKey || event.metaKey || event.altKey) return;
    var step = 5, key = event.key, b = boxes[selected];
    var arrows = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (arrows[key] && b && event.target === svg) {
      var d = arrows[key];
      boxes[selected] = event.shiftKey ? B.resized(b, d[0], d[1], width, height) : B.moved(b, d[0], d[1], width, height);
      draw();
    } else if ((key === "Delete" || key === "Backspace") && tag !== "button") { removeSelected(); }
    else if ((key === "n" || key === "N") && boxes.length) {
      selected = (selected + (event.shiftKey ? boxes.length - 1 : 1)) % boxes.length; draw();
    }
    else if (key === "Escape") { selected = -1; draw(); }
    else if (key === "+" || key === "=") { setZoom(zoom * 1.25); }
    else if (key === "-") { setZoom(zoom / 1.25); }
    else if (key === "s" || key === "S") { save(); }
    else if (key === "Enter" && data.next_url && tag !== "button" && tag !== "a") { saveAndNext(); }
    else { return; }
    event.preventDefault();
  });

  var picture = new Image();
  picture.onload = function () {
    width = picture.naturalWidth; height = picture.naturalHeight;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    var image = document.createElementNS(NS, "image");
    image.setAttribute("href", data.sample.source);
    image.setAttribute("width", width); image.setAttribute("height", height);
    svg.appendChild(image);
    var fit = Math.min(1, 800 / width);
    setZoom(fit);
    svg.dataset.ready = "1";
  };
  picture.src = data.sample.source;
  window.labelartsBoxes = { boxes: function () { return boxes.map(function (b) { return B.normalise(b, width, height); }); }, save: save };
})();

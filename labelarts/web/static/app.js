// LabelArts pages: small helpers on every page, and the keyboard review view.
// No framework: the pages are rendered on the server; this file only adds what must run
// in the browser. Everything it calls is on this server (/ui/...), with the CSRF header.
"use strict";

// One sample shown for a person to judge: a picture, the text in full, or sound with a player
// and its waveform. Used by the review view below and by the team queues (static/team.js).
var LabelArtsView = (function () {
  function drawWaveform(canvas, url) {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.arrayBuffer(); }).then(function (buffer) {
      var context = new Context();
      return context.decodeAudioData(buffer).then(function (audio) {
        context.close();
        var channel = audio.getChannelData(0);
        var g = canvas.getContext("2d");
        var width = canvas.width, height = canvas.height, step = Math.max(1, Math.floor(channel.length / width));
        g.fillStyle = "#f4f6f8"; g.fillRect(0, 0, width, height);
        g.fillStyle = "#1f5f99";
        for (var x = 0; x < width; x++) {
          var lo = 1, hi = -1;
          for (var i = x * step; i < Math.min(channel.length, (x + 1) * step); i++) {
            if (channel[i] < lo) lo = channel[i];
            if (channel[i] > hi) hi = channel[i];
          }
          if (hi < lo) continue;
          g.fillRect(x, (1 - hi) * height / 2, 1, Math.max(1, (hi - lo) * height / 2));
        }
        canvas.dataset.drawn = "1";
      });
    }).catch(function () { /* the player still works without the picture */ });
  }

  // ``next`` (optional) is the sample after this one: its picture is fetched ahead.
  function show(view, sample, next) {
    view.textContent = "";
    if (sample.type === 0) {
      var img = document.createElement("img");
      img.src = sample.source;
      img.alt = sample.name;
      view.appendChild(img);
      // Warm the next picture so moving on shows it at once.
      if (next && next.type === 0) { var warm = new Image(); warm.src = next.source; }
    } else if (sample.type === 1) {
      var text = document.createElement("div");
      text.className = "fulltext";
      text.textContent = sample.text || "";
      view.appendChild(text);
      if ((sample.text || "").length >= 10000) {
        fetch(sample.source, { credentials: "same-origin" }).then(function (r) { return r.text(); })
          .then(function (full) { if (view.contains(text)) text.textContent = full; });
      }
    } else if (sample.type === 2) {
      var canvas = document.createElement("canvas");
      canvas.width = 800; canvas.height = 120;
      canvas.className = "wave";
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", "Waveform of " + sample.name);
      var audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "metadata";
      audio.src = sample.source;
      audio.setAttribute("aria-label", "Play " + sample.name);
      view.appendChild(canvas);
      view.appendChild(audio);
      drawWaveform(canvas, sample.source);
    } else {
      var link = document.createElement("a");
      link.href = sample.source; link.textContent = "Open " + sample.name;
      view.appendChild(link);
    }
  }
  return { show: show };
})();

(function () {
  // Range sliders show their value next to them.
  document.querySelectorAll("input[type=range][data-show]").forEach(function (input) {
    var out = document.getElementById(input.dataset.show);
    input.addEventListener("input", function () { out.textContent = input.value; });
  });
  // "Select all on this page" on the grid (delegated: htmx swaps the grid).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-select-all]");
    if (!button) return;
    var boxes = document.querySelectorAll("#batch input[name=sample_id]");
    var all = Array.prototype.every.call(boxes, function (b) { return b.checked; });
    boxes.forEach(function (b) { b.checked = !all; });
  });

  var dataNode = document.getElementById("review-data");
  if (!dataNode) return;
  var data = JSON.parse(dataNode.textContent);
  var csrf = document.getElementById("csrf").value;
  var samples = data.samples;
  var at = data.at;
  var history = [];          // undo stack: {index, id, labels (before)}
  var queue = Promise.resolve();  // writes go one after another, in order
  var $ = function (id) { return document.getElementById(id); };
  var review = $("review");

  function say(text, bad) {
    var m = $("message");
    m.textContent = text;
    m.className = bad ? "error" : "";
  }

  // The team labeling queue (/ui/work/...) saves to its task instead of the dataset and pages
  // through its own URL (data.save_url, data.page_url; docs/web.md).
  function post(sampleId, labels) {
    var url = data.save_url ? data.save_url.replace("{sample}", encodeURIComponent(sampleId))
      : "/ui/datasets/" + data.dataset_id + "/samples/" + encodeURIComponent(sampleId) + "/labels";
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ labels: labels }),
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.error_msg || ("HTTP " + response.status));
        return body;
      });
    });
  }

  function showCounts(counts) {
    Object.keys(counts).forEach(function (key) {
      document.querySelectorAll("[data-count=" + key + "]").forEach(function (n) { n.textContent = counts[key]; });
    });
  }

  function labelText(sample) {
    if (!sample.labels.length) return "Unlabeled";
    return sample.labels.map(function (l) {
      return l.name + (l.score != null ? " (" + Math.round(l.score * 1000) / 10 + "%)" : "");
    }).join(", ") + (sample.status === "__AUTO_ANNOTATION__" ? " — to be confirmed" : "");
  }

  function render() {
    var view = $("sample-view");
    if (!samples.length) {
      view.textContent = "";
      $("sample-name").textContent = "No samples here";
      $("position").textContent = "";
      $("current-labels").textContent = "";
      review.dataset.sampleId = "";
      return;
    }
    var sample = samples[at];
    $("sample-name").textContent = sample.name;
    $("position").textContent = "Sample " + (at + 1) + " of " + samples.length + " on page " + (data.page + 1) + " of " + data.pages;
    $("current-labels").textContent = labelText(sample);
    $("hard-reasons").textContent = sample.hard ? "Hard example: " + (sample.reasons.join("; ") || "flagged") : "";
    var comment = $("review-comment");
    if (comment) comment.textContent = sample.comment ? "Sent back: " + sample.comment : (sample.rejected ? "Sent back (no comment)." : "");
    LabelArtsView.show(view, sample, samples[at + 1]);
    review.dataset.sampleId = sample.id;
    review.dataset.index = String(at);
  }

  function move(step) {
    var target = at + step;
    if (target >= 0 && target < samples.length) { at = target; render(); return; }
    if (target >= samples.length) {
      // The end of this page: in a tab that samples leave once handled, the same page number
      // now holds the next ones.
      var leaves = (data.leaves || /(^|&)tab=(unlabeled|auto)/.test(data.query)) && history.length > 0;
      var page = leaves ? data.page : data.page + 1;
      if (page < data.pages || leaves) {
        go(page);
      } else {
        say("That was the last sample.");
      }
    } else if (data.page > 0) {
      go(data.page - 1);
    }
  }

  function go(page) {
    // Only once every write has been answered: the next page must see them.
    queue.then(function () {
      window.location.href = data.page_url ? data.page_url + page
        : "/ui/datasets/" + data.dataset_id + "/review?" + data.query + (data.query ? "&" : "") + "page=" + page;
    });
  }

  function apply(labels, status, note) {
    if (!samples.length) return;
    var index = at, sample = samples[index];
    history.push({ index: index, id: sample.id, labels: sample.labels, status: sample.status });
    sample.labels = labels.map(function (l) { return { name: l.name, type: l.type, property: l.property || {}, score: null }; });
    sample.status = labels.length ? "__ALL__" : "__NONE__";
    queue = queue.then(function () {
      return post(sample.id, labels).then(function (body) { showCounts(body.counts); say(note); })
        .catch(function (error) { say(error.message, true); });
    });
    move(1);
  }

  function plain(labels) {
    return labels.map(function (l) { return { name: l.name, type: l.type, property: l.property || {} }; });
  }

  function confirmCurrent() {
    var sample = samples[at];
    if (!sample) return;
    if (!sample.labels.length) { say("Nothing to confirm: choose a label (1–9) or reject.", true); return; }
    apply(plain(sample.labels), "__ALL__", "Confirmed " + sample.name + ".");
  }

  function chooseLabel(n) {
    var label = data.labels[n - 1];
    if (!label || !samples[at]) return;
    apply([{ name: label.name, type: label.type, property: {} }], "__ALL__", "Labeled " + samples[at].name + " " + label.name + ".");
  }

  function reject() {
    if (!samples[at]) return;
    apply([], "__NONE__", "Rejected " + samples[at].name + ": unlabeled again.");
  }

  function undo() {
    var last = history.pop();
    if (!last) { say("Nothing to undo."); return; }
    var sample = samples[last.index];
    sample.labels = last.labels;
    sample.status = last.labels.length ? "__ALL__" : "__NONE__";
    at = last.index;
    render();
    queue = queue.then(function () {
      return post(last.id, plain(last.labels)).then(function (body) { showCounts(body.counts); say("Undone."); })
        .catch(function (error) { say(error.message, true); });
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.metaKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || tag === "audio") return;
    var key = event.key;
    if (event.ctrlKey && key !== "z") return;
    if (key === "ArrowRight" || key === "j") { move(1); }
    else if (key === "ArrowLeft" || key === "k") { move(-1); }
    else if (key === "Enter" && tag !== "button" && tag !== "a") { confirmCurrent(); }
    else if (key === "r" || key === "R") { reject(); }
    else if (key === "z" || key === "Z" || key === "u") { undo(); }
    else if (/^[1-9]$/.test(key)) { chooseLabel(Number(key)); }
    else { return; }
    event.preventDefault();
  });
  document.querySelectorAll("#label-buttons button").forEach(function (button, i) {
    button.addEventListener("click", function () { chooseLabel(i + 1); });
  });
  $("confirm").addEventListener("click", confirmCurrent);
  $("reject").addEventListener("click", reject);
  $("undo").addEventListener("click", undo);
  $("next").addEventListener("click", function () { move(1); });
  $("prev").addEventListener("click", function () { move(-1); });
  window.labelartsReview = { pending: function () { return queue; } };
  render();
})();

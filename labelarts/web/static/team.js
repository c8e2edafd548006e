// Team labeling: the reviewer's queue and the owner's acceptance of drawn samples, one sample
// at a time for the keyboard. Both give a verdict (accept or reject, a score A-D, a comment)
// through data.verdict_url; the sample itself is shown by LabelArtsView (static/app.js).
"use strict";

(function () {
  var node = document.getElementById("verdict-data");
  if (!node) return;
  var data = JSON.parse(node.textContent);
  var csrf = document.getElementById("csrf").value;
  var samples = data.samples;
  var at = 0;
  var queue = Promise.resolve();  // verdicts are sent one after another, in order
  var $ = function (id) { return document.getElementById(id); };
  var root = $("verdicts");
  var comment = $("comment");
  var SCORES = ["A", "B", "C", "D"];

  function say(text, bad) { var m = $("message"); m.textContent = text; m.className = bad ? "error" : ""; }

  function score() {
    var checked = document.querySelector("input[name=score]:checked");
    return checked ? checked.value : null;
  }
  function setScore(value) {
    document.querySelectorAll("input[name=score]").forEach(function (r) { r.checked = r.value === value; });
  }

  function labelText(sample) {
    if (!sample.labels.length) return "No labels";
    return sample.labels.map(function (l) {
      var f = (l.property || {})["@modelarts:feature"];
      return l.name + (f ? " [" + JSON.stringify(f) + "]" : "");
    }).join(", ");
  }

  function render() {
    var view = $("sample-view");
    if (!samples.length || at >= samples.length) {
      view.textContent = "";
      $("sample-name").textContent = samples.length ? "All done here" : "Nothing waits here";
      $("position").textContent = "";
      $("current-labels").textContent = "";
      $("verdict-state").textContent = "";
      root.dataset.sampleId = "";
      return;
    }
    var sample = samples[at];
    $("sample-name").textContent = sample.name;
    $("position").textContent = "Sample " + (at + 1) + " of " + samples.length;
    $("current-labels").textContent = sample.results.map(function (r) {
      return (r.by ? r.by + ": " : "") + labelText(r);
    }).join(" · ");
    $("verdict-state").textContent = sample.verdict == null ? "" : (sample.verdict ? "Accepted" : "Rejected")
      + (sample.score ? " (" + sample.score + ")" : "") + (sample.comment ? ": " + sample.comment : "");
    comment.value = sample.comment || "";
    setScore(sample.score || null);
    LabelArtsView.show(view, sample, samples[at + 1]);
    root.dataset.sampleId = sample.id;
    root.dataset.index = String(at);
  }

  function post(body) {
    return fetch(data.verdict_url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) throw new Error(answer.error_msg || ("HTTP " + response.status));
        return answer;
      });
    });
  }

  function verdict(accept) {
    var sample = samples[at];
    if (!sample) return;
    var body = { sample_id: sample.id, accept: accept, comment: comment.value.trim() || null, score: score() };
    if (sample.worker_id) body.worker_id = sample.worker_id;
    sample.verdict = accept; sample.comment = body.comment; sample.score = body.score;
    var word = (accept ? "Accepted " : "Rejected ") + sample.name + ".";
    queue = queue.then(function () {
      return post(body).then(function (answer) {
        say(word);
        if (answer.counts) {
          Object.keys(answer.counts).forEach(function (key) {
            document.querySelectorAll("[data-count=" + key + "]").forEach(function (n) { n.textContent = answer.counts[key]; });
          });
        }
        root.dataset.done = String(Number(root.dataset.done || 0) + 1);
      }).catch(function (error) { say(sample.name + ": " + error.message, true); });
    });
    at = Math.min(at + 1, samples.length);
    render();
  }

  function move(step) {
    var target = at + step;
    if (target < 0 || target > samples.length) return;
    at = target;
    render();
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.metaKey || event.ctrlKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") {
      if (event.key === "Escape" && event.target === comment) { comment.blur(); root.focus(); event.preventDefault(); }
      return;
    }
    var key = event.key;
    if (key === "ArrowRight" || key === "j") { move(1); }
    else if (key === "ArrowLeft" || key === "k") { move(-1); }
    else if ((key === "Enter" && tag !== "button" && tag !== "a") || key === "a" || key === "A") { verdict(true); }
    else if (key === "r" || key === "R") { verdict(false); }
    else if (/^[1-4]$/.test(key)) { setScore(SCORES[Number(key) - 1]); }
    else if (key === "0") { setScore(null); }
    else if (key === "c" || key === "C") { comment.focus(); }
    else { return; }
    event.preventDefault();
  });
  $("accept").addEventListener("click", function () { verdict(true); });
  $("reject").addEventListener("click", function () { verdict(false); });
  $("next").addEventListener("click", function () { move(1); });
  $("prev").addEventListener("click", function () { move(-1); });
  window.labelartsVerdicts = { pending: function () { return queue; } };
  render();
})();

// The invitation link carries its token after '#', which browsers never send to a server (so
// it stays out of access logs and Referer headers): copy it into the form, then drop it from
// the address bar.
"use strict";

(function () {
  var field = document.getElementById("token");
  var token = decodeURIComponent(window.location.hash.replace(/^#/, ""));
  if (field && token && !field.value) {
    field.value = token;
    history.replaceState(null, "", window.location.pathname);
  }
})();

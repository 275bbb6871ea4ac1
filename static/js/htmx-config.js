// htmx settings, loaded right after htmx and before the page is ready (no inline config: CSP).
// The Content-Security-Policy allows no inline styles, so htmx must never write one: no
// indicator <style> element, and no copying of a swapped element's style attribute on settle.
(function () {
  "use strict";
  var config = window.htmx.config;
  config.includeIndicatorStyles = false;
  config.attributesToSettle = ["class", "width", "height"];
  config.allowEval = false;
  config.allowScriptTags = false;
  config.historyCacheSize = 0;
})();

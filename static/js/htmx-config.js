// htmx settings: deferred right after htmx (also deferred), so they apply before htmx starts
// on DOMContentLoaded. No inline config: the Content-Security-Policy allows no inline script.
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

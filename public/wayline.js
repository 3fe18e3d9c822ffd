/*!
 * Wayline browser snippet: page views, identify, track and clicks, batched and sent to a
 * Wayline server; what is still queued when the page is hidden goes out with sendBeacon.
 *
 *   <script src="https://wayline.example.com/wayline.js" data-write-key="wl_…" defer></script>
 *
 *   wayline.track('added_to_cart', { sku: 'A-1' });
 *   wayline.identify('user-42', { email: 'ada@example.com' });
 *   wayline.page();                       // sent automatically on load
 *   <button data-wayline-event="pricing_clicked" data-wayline-plan="pro">…</button>
 *
 * Options (data attributes on the script tag, or wayline.init({...})):
 *   data-write-key   the source's write key (required)
 *   data-host        the Wayline origin (default: the origin the script was loaded from)
 *   data-auto-page   "false" to not send a page view on load
 */
(function () {
  'use strict';
  var VERSION = '0.1.0';
  var FLUSH_MS = 2000;
  var MAX_QUEUE = 20;
  var STORAGE = 'wayline:';
  var script = document.currentScript;
  var state = { writeKey: null, host: null, queue: [], timer: null, backoff: FLUSH_MS, userId: null };

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, function (c) {
      var r = (Math.random() * 16) | 0;
      return (c === 'x' ? r : (r & 0x3) | 0x8).toString(16);
    });
  }

  function stored(key, value) {
    try {
      if (value === undefined) return localStorage.getItem(STORAGE + key);
      if (value === null) localStorage.removeItem(STORAGE + key);
      else localStorage.setItem(STORAGE + key, value);
    } catch (e) { /* storage can be disabled; ids then last for this page only */ }
    return value;
  }

  function anonymousId() {
    var id = stored('anonymous_id');
    if (!id) id = stored('anonymous_id', uuid());
    return id;
  }

  function campaign() {
    var params = new URLSearchParams(location.search);
    var out = {};
    ['source', 'medium', 'campaign', 'term', 'content'].forEach(function (key) {
      var value = params.get('utm_' + key);
      if (value) out[key === 'campaign' ? 'name' : key] = value;
    });
    return Object.keys(out).length ? out : undefined;
  }

  function context() {
    var ctx = {
      library: { name: 'wayline.js', version: VERSION },
      page: { path: location.pathname, referrer: document.referrer, search: location.search, title: document.title, url: location.href },
      userAgent: navigator.userAgent,
      locale: navigator.language,
      screen: { width: screen.width, height: screen.height }
    };
    try { ctx.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* old browsers */ }
    var utm = campaign();
    if (utm) ctx.campaign = utm;
    return ctx;
  }

  function enqueue(message) {
    message.messageId = uuid();
    message.anonymousId = anonymousId();
    if (state.userId) message.userId = state.userId;
    message.timestamp = new Date().toISOString();
    message.context = context();
    state.queue.push(message);
    if (state.queue.length >= MAX_QUEUE) flush();
    else schedule(FLUSH_MS);
  }

  function schedule(ms) {
    if (!state.timer) state.timer = setTimeout(function () { state.timer = null; flush(); }, ms);
  }

  function body(batch) {
    return JSON.stringify({ writeKey: state.writeKey, batch: batch, sentAt: new Date().toISOString() });
  }

  // text/plain keeps the request "simple" (no CORS preflight); Wayline reads JSON either way.
  function flush() {
    if (!state.queue.length || !state.writeKey) return;
    var batch = state.queue.splice(0, state.queue.length);
    fetch(state.host + '/v1/batch', { method: 'POST', body: body(batch), keepalive: true, headers: { 'Content-Type': 'text/plain' } })
      .then(function (response) {
        if (response.status >= 500 || response.status === 429) throw new Error('retry');
        state.backoff = FLUSH_MS;
      })
      .catch(function () {
        // Keep the messages and try again later; the server deduplicates by messageId.
        state.queue = batch.concat(state.queue);
        state.backoff = Math.min(state.backoff * 2, 60000);
        schedule(state.backoff);
      });
  }

  function flushOnHide() {
    if (!state.queue.length || !state.writeKey) return;
    var batch = state.queue.splice(0, state.queue.length);
    var blob = new Blob([body(batch)], { type: 'text/plain' });
    if (!(navigator.sendBeacon && navigator.sendBeacon(state.host + '/v1/batch', blob))) {
      state.queue = batch.concat(state.queue);
    }
  }

  function onClick(event) {
    var element = event.target && event.target.closest && event.target.closest('[data-wayline-event]');
    if (!element) return;
    var properties = {};
    Object.keys(element.dataset).forEach(function (key) {
      if (key.indexOf('wayline') === 0 && key !== 'waylineEvent') {
        var name = key.slice('wayline'.length);
        properties[name.charAt(0).toLowerCase() + name.slice(1)] = element.dataset[key];
      }
    });
    var text = (element.textContent || '').trim();
    if (text) properties.text = text.slice(0, 100);
    api.track(element.dataset.waylineEvent, properties);
  }

  var api = {
    init: function (options) {
      state.writeKey = options.writeKey;
      state.host = (options.host || '').replace(/\/$/, '');
      state.userId = stored('user_id');
      document.addEventListener('click', onClick, true);
      document.addEventListener('visibilitychange', function () { if (document.visibilityState === 'hidden') flushOnHide(); });
      window.addEventListener('pagehide', flushOnHide);
      if (options.autoPage !== false) api.page();
    },
    page: function (name, properties) {
      var props = Object.assign({ path: location.pathname, url: location.href, title: document.title, referrer: document.referrer }, properties || {});
      enqueue({ type: 'page', name: name || document.title, properties: props });
    },
    track: function (event, properties) {
      enqueue({ type: 'track', event: event, properties: properties || {} });
    },
    identify: function (userId, traits) {
      if (userId) state.userId = stored('user_id', String(userId));
      enqueue({ type: 'identify', traits: traits || {} });
    },
    reset: function () {
      state.userId = stored('user_id', null);
      stored('anonymous_id', null);
    },
    flush: flush
  };
  window.wayline = api;

  if (script && script.dataset.writeKey) {
    var origin = script.dataset.host || new URL(script.src, location.href).origin;
    api.init({ writeKey: script.dataset.writeKey, host: origin, autoPage: script.dataset.autoPage !== 'false' });
  }
})();

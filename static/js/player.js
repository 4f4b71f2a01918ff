// The synchronized player of the class page. One playhead (a clock advanced with
// requestAnimationFrame) drives one <video> per watched lane: each lane's video shows the segment
// that covers the playhead, seeked to (playhead - segment offset); a video more than 0.3 s off is
// corrected; a lane with no segment at the playhead says so. No dependency.
(function () {
  "use strict";

  var TOLERANCE_S = 0.3;
  var MAX_STALL_MS = 6000; // a video still loading after this no longer holds everyone back
  var DEFAULT_WATCHED = 6;

  var root = document.getElementById("player");
  if (!root) return;

  var grid = document.getElementById("player-grid");
  var seekInput = document.getElementById("player-seek");
  var clockOut = document.getElementById("player-clock");
  var speedSelect = document.getElementById("player-speed");
  var linkToMoment = document.getElementById("player-link");
  var duration = Number(root.dataset.duration) || 0;
  var origin = Number(root.dataset.origin) || 0;
  var timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    timeZone: root.dataset.tz || undefined, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
  });

  var clock = { t: 0, playing: false, rate: 1, since: 0 };
  var lanes = {};        // key -> {key, label, kind, segs: [{o, d, u}]}
  var order = [];        // lane keys in timeline order
  var watched = null;    // Set of lane keys, null until the first read of the timeline
  var chosen = false;    // the viewer ticked or unticked a lane: from then on their choice, not the default
  var tiles = {};        // key -> tile
  var frame = 0;
  var stallSince = 0;

  function now() { return window.performance.now(); }

  function current() {
    if (!clock.playing) return clock.t;
    return Math.min(duration, clock.t + (now() - clock.since) * clock.rate);
  }

  function rebase(t) {
    clock.t = Math.max(0, Math.min(duration, t));
    clock.since = now();
  }

  // ------------------------------------------------------------- reading the timeline

  function readTimeline() {
    var timeline = document.getElementById("timeline");
    if (!timeline) return;
    duration = Number(timeline.dataset.duration) || duration;
    origin = Number(timeline.dataset.origin) || origin;
    seekInput.max = String(duration);
    var base = timeline.dataset.base || "";
    lanes = {};
    order = [];
    timeline.querySelectorAll(".lane").forEach(function (row) {
      var segs = [];
      row.querySelectorAll("i[data-o]").forEach(function (el) {
        segs.push({ o: Number(el.dataset.o), d: Number(el.dataset.d), u: base + el.dataset.u });
      });
      segs.sort(function (a, b) { return a.o - b.o; });
      var key = row.dataset.lane;
      var group = row.closest(".tl-user");
      var kindName = "";
      row.querySelector(".tl-label").childNodes.forEach(function (node) {
        if (node.nodeType === 3) kindName += node.textContent; // the kind, without the gap count
      });
      var label = (group ? group.getAttribute("aria-label") + " · " : "") + kindName.trim();
      lanes[key] = { key: key, label: label, kind: row.className.replace(/.*\bk-(\w+).*/, "$1"), segs: segs };
      order.push(key);
    });
    // Until the viewer chooses, the default follows the timeline: a class opened before its first
    // file (a live one) gets its lanes watched as they appear.
    if (watched === null || !chosen) {
      watched = new Set();
      order.forEach(function (key) {
        if (watched.size < DEFAULT_WATCHED && lanes[key].kind !== "audio") watched.add(key);
      });
    }
    timeline.querySelectorAll(".lane").forEach(function (row) {
      var box = row.querySelector("input.watch");
      if (box) box.checked = watched.has(row.dataset.lane);
    });
    // A lane may have grown (live) or changed: refresh each tile's segment list.
    Object.keys(tiles).forEach(function (key) {
      if (lanes[key]) tiles[key].lane = lanes[key];
    });
    layoutTiles();
    showPlayhead(current());
  }

  // ------------------------------------------------------------- tiles

  function makeTile(lane) {
    var el = document.createElement("figure");
    el.className = "tile";
    el.dataset.lane = lane.key;
    var name = document.createElement("figcaption");
    name.className = "tile-name";
    var text = document.createElement("span");
    text.textContent = lane.label;
    var mute = document.createElement("button");
    mute.type = "button";
    mute.className = "btn btn-small";
    mute.textContent = root.dataset.mute;
    name.appendChild(text);
    name.appendChild(mute);
    var video = document.createElement("video");
    video.preload = "auto";
    video.playsInline = true;
    video.setAttribute("aria-label", lane.label);
    var none = document.createElement("div");
    none.className = "tile-none";
    none.textContent = root.dataset.none;
    el.appendChild(name);
    el.appendChild(video);
    el.appendChild(none);
    var tile = { el: el, video: video, none: none, lane: lane, seg: null, failed: false };
    mute.addEventListener("click", function () {
      video.muted = !video.muted;
      mute.textContent = video.muted ? root.dataset.unmute : root.dataset.mute;
      mute.setAttribute("aria-pressed", video.muted ? "true" : "false");
    });
    video.addEventListener("loadedmetadata", function () {
      // The playhead moved on while the file loaded: seek to where it is now.
      if (tile.seg) video.currentTime = Math.max(0, (current() - tile.seg.o) / 1000);
      video.playbackRate = clock.rate;
      if (clock.playing) video.play().catch(function () {});
    });
    video.addEventListener("error", function () {
      tile.failed = true;
      none.textContent = root.dataset.failed;
      none.hidden = false;
    });
    return tile;
  }

  function layoutTiles() {
    // Nothing loads until someone opens the player.
    if (watched === null || !root.dataset.opened) return;
    Object.keys(tiles).forEach(function (key) {
      if (!watched.has(key) || !lanes[key]) {
        tiles[key].video.removeAttribute("src");
        tiles[key].video.load();
        tiles[key].el.remove();
        delete tiles[key];
      }
    });
    order.forEach(function (key) {
      if (!watched.has(key)) return;
      if (!tiles[key]) tiles[key] = makeTile(lanes[key]);
      grid.appendChild(tiles[key].el); // re-appending keeps the grid in timeline order
    });
    sync(current());
  }

  // The last segment starting at or before t, if it still covers t (segments are sorted by offset).
  function segmentAt(segs, t) {
    var lo = 0, hi = segs.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (segs[mid].o <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    // Lanes rarely overlap, but a short file may sit inside a longer one: look back a little.
    for (var i = found; i >= 0 && i > found - 4; i--) {
      if (t < segs[i].o + segs[i].d) return segs[i];
    }
    return null;
  }

  // Puts every tile where the playhead is; answers whether a playing tile is still loading.
  function sync(t) {
    var waiting = false;
    Object.keys(tiles).forEach(function (key) {
      var tile = tiles[key];
      var video = tile.video;
      var seg = segmentAt(tile.lane.segs, t);
      if (!seg) {
        tile.seg = null;
        tile.none.textContent = root.dataset.none;
        tile.none.hidden = false;
        if (!video.paused) video.pause();
        return;
      }
      var want = (t - seg.o) / 1000;
      if (tile.seg !== seg) {
        if (!tile.seg || tile.seg.u !== seg.u) {
          tile.failed = false;
          video.src = seg.u;
        }
        tile.seg = seg;
      } else if (video.readyState >= 1 && !video.seeking && Math.abs(video.currentTime - want) > TOLERANCE_S) {
        video.currentTime = want;
      }
      if (tile.failed) return;
      tile.none.hidden = true;
      if (video.playbackRate !== clock.rate) video.playbackRate = clock.rate;
      if (clock.playing) {
        if (video.paused && video.readyState >= 2) video.play().catch(function () {});
        if (video.readyState < 3 || video.seeking) waiting = true;
      } else if (!video.paused) {
        video.pause();
      }
    });
    return waiting;
  }

  // ------------------------------------------------------------- the clock

  function loop() {
    frame = 0;
    var t = current();
    if (clock.playing && t >= duration) {
      pause();
      return;
    }
    var waiting = sync(t);
    if (clock.playing && waiting) {
      if (!stallSince) stallSince = now();
      // Hold the playhead while a file loads or seeks, so the lanes stay together.
      if (now() - stallSince < MAX_STALL_MS) rebase(t);
    } else {
      stallSince = 0;
    }
    showPlayhead(t);
    if (clock.playing) frame = window.requestAnimationFrame(loop);
  }

  function schedule() {
    if (!frame) frame = window.requestAnimationFrame(loop);
  }

  function play() {
    open();
    if (current() >= duration) rebase(0);
    rebase(current());
    clock.playing = true;
    stallSince = 0;
    root.classList.add("playing");
    schedule();
  }

  function pause() {
    rebase(current());
    clock.playing = false;
    root.classList.remove("playing");
    sync(clock.t);
    showPlayhead(clock.t);
  }

  function seek(t) {
    rebase(t);
    stallSince = 0;
    // Every lane goes to the new moment at once, not on the next frame.
    Object.keys(tiles).forEach(function (key) {
      var tile = tiles[key];
      var seg = segmentAt(tile.lane.segs, clock.t);
      if (seg && tile.seg === seg && tile.video.readyState >= 1) tile.video.currentTime = (clock.t - seg.o) / 1000;
    });
    sync(clock.t);
    showPlayhead(clock.t);
    if (clock.playing) schedule();
  }

  // ------------------------------------------------------------- what people see

  function showPlayhead(t) {
    if (document.activeElement !== seekInput) seekInput.value = String(Math.round(t));
    clockOut.textContent = origin ? timeFormat.format(new Date(origin + t)) : "";
    var head = document.querySelector("#timeline .tl-playhead");
    if (head && duration) {
      head.hidden = !root.dataset.opened;
      head.style.setProperty("--p", String(t / duration));
    }
    var params = new URLSearchParams(window.location.search);
    params.delete("at");
    params.set("t", (t / 1000).toFixed(1));
    linkToMoment.href = window.location.pathname + "?" + params.toString() + "#player";
  }

  function open() {
    if (root.dataset.opened) return;
    root.dataset.opened = "1";
    root.hidden = false;
    layoutTiles();
  }

  // ------------------------------------------------------------- wiring

  root.querySelector("[data-play]").addEventListener("click", play);
  root.querySelector("[data-pause]").addEventListener("click", pause);
  seekInput.addEventListener("input", function () { seek(Number(seekInput.value)); });
  speedSelect.addEventListener("change", function () {
    rebase(current());
    clock.rate = Number(speedSelect.value) || 1;
    sync(clock.t);
  });

  var opener = document.querySelector("[data-open-player]");
  if (opener) {
    opener.hidden = false;
    opener.addEventListener("click", function () {
      open();
      seek(current());
      root.scrollIntoView({ behavior: "smooth", block: "start" });
    });
  }

  // Clicking the axis or a lane moves the playhead there (and watches that lane).
  document.addEventListener("click", function (event) {
    var track = event.target.closest && event.target.closest("#timeline .tl-track");
    if (!track || !duration) return;
    var rect = track.getBoundingClientRect();
    var t = ((event.clientX - rect.left) / rect.width) * duration;
    var row = track.closest(".lane");
    if (row && watched && !watched.has(row.dataset.lane)) {
      chosen = true;
      watched.add(row.dataset.lane);
      readTimeline();
    }
    open();
    seek(t);
    // "Click to play from here": a click on the timeline starts playback, not only the playhead.
    if (!clock.playing) play();
  });

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("watch")) return;
    var key = box.closest(".lane").dataset.lane;
    chosen = true;
    if (box.checked) watched.add(key); else watched.delete(key);
    open();
    layoutTiles();
  });

  // The timeline is re-drawn by htmx (zoom, more participants, live growth): read it again.
  // A live timeline is redrawn every few seconds: keep the reader's scroll position.
  var scrolled = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var box = document.querySelector("#timeline .tl-scroll");
    if (box && event.detail.target && event.detail.target.id === "timeline") {
      scrolled = { left: box.scrollLeft, top: box.scrollTop, zoom: box.firstElementChild.style.cssText };
    }
  });
  // A swapped-in timeline is a new element, without the mark the old one carried.
  document.body.addEventListener("htmx:afterSettle", function () {
    var timeline = document.getElementById("timeline");
    if (timeline && !timeline.dataset.read) {
      timeline.dataset.read = "1";
      var box = timeline.querySelector(".tl-scroll");
      // Same zoom: same place. A new zoom starts from the left.
      if (box && scrolled && box.firstElementChild.style.cssText === scrolled.zoom) {
        box.scrollLeft = scrolled.left;
        box.scrollTop = scrolled.top;
      }
      scrolled = null;
      readTimeline();
    }
  });

  var timeline = document.getElementById("timeline");
  if (timeline) timeline.dataset.read = "1";
  readTimeline();
  if (root.dataset.start !== undefined) {
    open();
    seek(Number(root.dataset.start) * 1000);
  }

  // For tests and the curious: the player's own view of where it is.
  window.recdeskPlayer = {
    time: function () { return current(); },
    seek: seek,
    play: play,
    pause: pause,
    playing: function () { return clock.playing; },
    lanes: function () { return Object.keys(tiles); },
    // Each tile's video on the playhead's axis, read in the same turn as the playhead.
    positions: function () {
      var t = current();
      return Object.keys(tiles).map(function (key) {
        var tile = tiles[key];
        var video = tile.video;
        return {
          lane: key, playhead: t, segment: tile.seg ? tile.seg.o : null,
          media: tile.seg ? tile.seg.o + video.currentTime * 1000 : null,
          currentTime: video.currentTime, paused: video.paused, seeking: video.seeking,
          readyState: video.readyState, failed: tile.failed
        };
      });
    }
  };
})();

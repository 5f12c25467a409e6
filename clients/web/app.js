// voicestream live captions: microphone or file -> AudioWorklet (16 kHz PCM16) -> websocket -> captions.
// Protocol: docs/protocol.md. Everything is local: no CDN, no build step.

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"), latency: $("latency"), mic: $("mic"), file: $("file"), stop: $("stop"),
  reconnect: $("reconnect"), error: $("error"), captions: $("captions"), partial: $("partial"),
  jump: $("jump"), srt: $("srt"), vtt: $("vtt"), language: $("language"), task: $("task"),
  partials: $("partials"), diarize: $("diarize"), diarizeRow: $("diarize-row"), translateTo: $("translate-to"), translateRow: $("translate-row"), token: $("token"), server: $("server"),
  tab: $("tab"), withMic: $("with-mic"), cleanup: $("cleanup"),
  room: $("room"), viewers: $("viewers"), viewerCount: $("viewer-count"), share: $("share"),
  listen: $("listen"), listenRow: $("listen-row"), mixRow: $("mix-row"), dubRow: $("dub-row"), originalVolume: $("original-volume"), dubVolume: $("dub-volume"),
};

const CLOSE_MESSAGES = {
  1009: "A message was too large for the server.",
  1011: "The server failed while transcribing this session.",
  1013: "The server is full: too many sessions. Try again in a moment.",
  4400: "The server did not understand a message from this page.",
  4401: "The server refused the token: check the token in Settings.",
  4403: "This page's address is not allowed to use the server.",
  4408: "The session was idle for too long.",
  4409: "The page sent a message at the wrong time.",
  4410: "The session reached the server's length limit.",
  4415: "The server cannot take this audio format.",
  4429: "Audio was sent faster than the server allows.",
};

// Translated speech: gapless, in order, on its own AudioContext (it outlives the capture context).
// window.voicestreamSpeech is the page's scheduling state (tests read it).
const speech = { ctx: null, gain: null, pending: null, queueEnd: 0, scheduled: [], spoken: [] };
window.voicestreamSpeech = speech;

function listening() { return ui.listen.checked && !!ui.translateTo.value; }

function playSpeech(event, data) {
  if (!speech.ctx) {
    speech.ctx = new AudioContext();
    speech.gain = speech.ctx.createGain();
    speech.gain.gain.value = Number(ui.dubVolume.value);
    speech.gain.connect(speech.ctx.destination);
  }
  const pcm = new Int16Array(data);
  const buffer = speech.ctx.createBuffer(1, Math.max(1, pcm.length), event.sample_rate);
  const samples = buffer.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
  const node = speech.ctx.createBufferSource();
  node.buffer = buffer;
  node.connect(speech.gain);
  const at = Math.max(speech.ctx.currentTime + 0.05, speech.queueEnd);
  node.start(at);
  speech.queueEnd = at + buffer.duration;
  speech.scheduled.push({ segment: event.segment, text: event.text, at, duration: buffer.duration });
  const mark = () => {
    const p = state.bySegment.get(event.segment);
    if (p) p.classList.add("speaking");
    speech.spoken.push(event.segment);
  };
  const unmark = () => { const p = state.bySegment.get(event.segment); if (p) p.classList.remove("speaking"); };
  setTimeout(mark, Math.max(0, (at - speech.ctx.currentTime) * 1000));
  node.onended = unmark;
}

ui.dubVolume.addEventListener("input", () => { if (speech.gain) speech.gain.gain.value = Number(ui.dubVolume.value); });
ui.originalVolume.addEventListener("input", () => { if (state.original) state.original.gain.value = Number(ui.originalVolume.value); });
ui.listen.addEventListener("change", () => { ui.mixRow.hidden = ui.dubRow.hidden = !ui.listen.checked; });

const state = {
  ws: null, audio: null, source: null, node: null, media: null, lastSource: null,
  sentAt0: null, sentSamples: 0, exports: {}, finals: [], translations: [], bySegment: new Map(), redraw: false, paragraph: null, segment: null, speaker: null, translating: false, pendingDownload: null, autoScroll: true, stopping: false, errorShown: false,
};

ui.server.value = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;

// The server says what it allows (model, languages, tasks, token): the settings follow it.
async function loadInfo() {
  try {
    const info = await (await fetch("/info", { cache: "no-store" })).json();
    const names = new Map([...ui.language.options].map((o) => [o.value, o.textContent]));
    ui.language.replaceChildren(new Option("Detect", "auto"));
    for (const code of info.languages) ui.language.append(new Option(names.get(code) || code, code));
    if (!info.multilingual) ui.language.value = "en";
    for (const option of ui.task.options) option.disabled = !info.tasks.includes(option.value);
    if (info.token_required && !ui.token.value) ui.token.placeholder = "this server needs a token";
    ui.diarizeRow.hidden = !info.diarize;
    const targets = info.translate_to || [];
    ui.listenRow.hidden = !(info.speak_to || []).length;
    ui.translateTo.replaceChildren(new Option("Off", ""));
    for (const code of targets) ui.translateTo.append(new Option(names.get(code) || code, code));
    ui.translateRow.hidden = targets.length === 0;
    ui.diarize.checked = Boolean(info.diarize);
    setStatus(`Not connected (server model ${info.model})`);
  } catch (e) { /* a page served elsewhere: keep the defaults */ }
}
loadInfo();

function setStatus(text) { ui.status.textContent = text; }
function showError(text) { ui.error.textContent = text; ui.error.hidden = false; state.errorShown = true; }
function clearError() { ui.error.hidden = true; ui.error.textContent = ""; state.errorShown = false; }
function running(on) {
  ui.mic.disabled = on; ui.tab.disabled = on; ui.file.disabled = on; ui.stop.disabled = !on;
  ui.srt.disabled = !on && !state.exports.srt; ui.vtt.disabled = !on && !state.exports.vtt;
}

function connect() {
  const token = ui.token.value.trim();
  const protocols = ["voicestream.v1"];
  if (token) protocols.push(`bearer.${token}`);
  return new Promise((resolve, reject) => {
    let ws;
    try { ws = new WebSocket(ui.server.value, protocols); } catch (e) { reject(new Error(`Bad server address: ${e.message}`)); return; }
    ws.binaryType = "arraybuffer";
    let ready = false;
    ws.onopen = () => {
      setStatus("Connected, starting…");
      ws.send(JSON.stringify({
        type: "start", protocol: 1, sample_rate: 16000, encoding: "pcm_s16le", channels: 1,
        language: ui.language.value, task: ui.task.value, ...(ui.translateTo.value ? { translate_to: ui.translateTo.value } : {}),
        ...(listening() ? { speak: { to: ui.translateTo.value } } : {}),
        ...(ui.room.value.trim() ? { room: ui.room.value.trim() } : {}),
        options: { partials: ui.partials.checked, diarize: !ui.diarizeRow.hidden && ui.diarize.checked },
      }));
    };
    ws.onmessage = (msg) => {
      if (msg.data instanceof ArrayBuffer) {  // the audio of the speech event just before it
        if (speech.pending) playSpeech(speech.pending, msg.data);
        speech.pending = null;
        return;
      }
      const event = JSON.parse(msg.data);
      if (event.type === "speech") speech.pending = event;
      if (event.type === "ready" && !ready) { ready = true; resolve(ws); }
      onEvent(event);
    };
    ws.onerror = () => {};
    ws.onclose = (e) => {
      if (!ready) { reject(new Error(CLOSE_MESSAGES[e.code] || "Cannot reach the server: is voicestream serve running?")); return; }
      onClose(e);
    };
  });
}

function onEvent(event) {
  switch (event.type) {
    case "ready": setStatus(`Live: model ${event.model}`); break;
    case "partial": ui.partial.textContent = event.text; showLatency(event.words); break;
    case "final": state.finals.push(event); addFinal(event); ui.partial.textContent = ""; showLatency(event.words); break;
    case "revision": reviseFinals(event); break;
    case "speaker_update": correctSpeaker(event); break;
    case "translation": addTranslation(event); break;
    case "viewers":
      ui.viewerCount.textContent = `${event.count} watching`;
      ui.share.href = `/watch?room=${encodeURIComponent(event.room)}`;
      ui.share.textContent = `${location.origin}/watch?room=${event.room}`;
      ui.viewers.hidden = false;
      break;
    case "subtitles":
      state.exports[event.format] = event.text;
      (event.format === "srt" ? ui.srt : ui.vtt).disabled = false;
      if (state.pendingDownload === event.format) { state.pendingDownload = null; save(event.format); }
      break;
    case "done": {
      const fixed = event.speaker_updates ? `, ${event.speaker_updates} speaker labels corrected` : "";
      setStatus(`Done: ${event.duration.toFixed(1)} s of audio, ${event.finals} captions${fixed}`);
      break;
    }
    case "error": {
      const known = CLOSE_MESSAGES[event.code];
      showError(known && [4400, 4409, 4415].includes(event.code) ? `${known} (${event.reason})` : known || event.reason);
      break;
    }
  }
}

function onClose(e) {
  stopAudio();
  state.ws = null;
  running(false);
  if (e.code === 1000 && state.stopping) return;
  if (!state.errorShown) showError(CLOSE_MESSAGES[e.code] || "The connection to the server was lost.");
  setStatus("Disconnected");
  ui.reconnect.hidden = false;
}

function showLatency(words) {
  if (!words || !words.length || state.sentAt0 === null) return;
  const end = words[words.length - 1].end;
  const seconds = (performance.now() - state.sentAt0) / 1000 - end;
  ui.latency.textContent = `latency ${Math.max(0, seconds).toFixed(1)} s`;
}

function speakerClass(name) {
  let h = 0;
  for (const c of String(name)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `spk-${h % 5}`;
}

// A final's text after the one before it: a space unless its first word is the rest of a
// written word ("-disposed" after "ill") or the script writes no spaces.
function continued(event) {
  const first = event.words && event.words[0] && event.words[0].word;
  return typeof first === "string" && !/^\s/.test(first) ? event.text : ` ${event.text}`;
}

function addFinal(event) {
  const atBottom = state.autoScroll;
  const speaker = event.speaker || (event.words && event.words[0] && event.words[0].speaker) || null;
  // A speaker's turn is one flowing paragraph that finals extend; with live translation each
  // sentence keeps its own, so that its translation goes under it.
  const flows = state.segment === event.segment || !state.translating;
  if (state.paragraph && flows && state.speaker === speaker && !event.translation) {
    state.paragraph.append(document.createTextNode(continued(event)));
    state.bySegment.set(event.segment, state.paragraph);
    state.segment = event.segment;
    if (atBottom) ui.captions.scrollTop = ui.captions.scrollHeight;
    return;
  }
  const p = document.createElement("p");
  state.bySegment.set(event.segment, p);
  state.paragraph = event.translation ? null : p;
  state.segment = event.segment;
  const turn = speaker !== state.speaker || !ui.captions.firstChild;
  state.speaker = speaker;
  if (speaker && turn) { // the label only where the speaker changes
    const s = document.createElement("span");
    s.className = `speaker ${speakerClass(speaker)}`;
    s.textContent = `${speaker}:`;
    p.append(s);
  }
  p.append(document.createTextNode(event.text));
  if (event.translation) {
    const t = document.createElement("span");
    t.className = "translation";
    t.lang = event.target_language || "";
    t.textContent = event.translation;
    p.append(t);
  }
  ui.captions.append(p);
  if (atBottom) ui.captions.scrollTop = ui.captions.scrollHeight;
}

// A finished sentence's translation goes under the paragraph of its segment.
function addTranslation(event) {
  if (event.error) { showError(`Translation is off for this stream: ${event.error}`); return; }
  state.translations.push(event);
  drawTranslation(event);
}
function drawTranslation(event) {
  const p = state.bySegment.get(event.segment) || ui.captions.lastElementChild;
  if (!p) return;
  const t = document.createElement("span");
  t.className = "translation";
  t.lang = event.language || "";
  t.textContent = event.text;
  p.append(t);
  if (state.autoScroll) ui.captions.scrollTop = ui.captions.scrollHeight;
}

// An utterance decoded again once it ended: its finals give way to the new ones.
function reviseFinals(event) {
  const gone = new Set(event.replaces);
  let at = state.finals.findIndex((f) => gone.has(f.id));
  if (at < 0) at = state.finals.length;
  const kept = state.finals.filter((f) => !gone.has(f.id));
  state.finals = [...kept.slice(0, at), ...event.finals, ...kept.slice(at)];
  redrawSoon();
}

// The server's end-of-stream second pass relabels earlier finals: redraw the captions once.
function correctSpeaker(event) {
  const final = state.finals.find((f) => f.id === event.final);
  if (!final) return;
  final.speaker = event.speaker;
  (final.words || []).forEach((w, i) => { w.speaker = event.speakers[i] || w.speaker; });
  redrawSoon();
}

function redrawSoon() {
  if (state.redraw) return;
  state.redraw = true;
  requestAnimationFrame(() => {
    state.redraw = false;
    const atBottom = state.autoScroll;
    ui.captions.replaceChildren();
    state.paragraph = null; state.segment = null; state.speaker = null;
    for (const f of state.finals) addFinal(f);
    for (const t of state.translations) drawTranslation(t);
    if (atBottom) ui.captions.scrollTop = ui.captions.scrollHeight;
  });
}

ui.captions.addEventListener("scroll", () => {
  const c = ui.captions;
  state.autoScroll = c.scrollHeight - c.scrollTop - c.clientHeight < 24;
  ui.jump.hidden = state.autoScroll;
});
ui.jump.addEventListener("click", () => {
  ui.captions.scrollTop = ui.captions.scrollHeight;
  state.autoScroll = true;
  ui.jump.hidden = true;
});

async function startAudio(makeSource) {
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule("/pcm-worklet.js");
  const node = new AudioWorkletNode(ctx, "pcm-downsampler", { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 2, channelCountMode: "clamped-max" });
  node.port.onmessage = (msg) => {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (state.sentAt0 === null) state.sentAt0 = performance.now();
    state.sentSamples += msg.data.byteLength / 2;
    ws.send(msg.data);
  };
  const source = await makeSource(ctx);
  source.connect(node);
  const mute = ctx.createGain();
  mute.gain.value = 0;
  node.connect(mute).connect(ctx.destination); // keeps the graph pulling without playing anything
  state.original = null;
  if (listening() && source.buffer) {  // a local file: its original sound, at the user's volume under the dub
    state.original = ctx.createGain();
    state.original.gain.value = Number(ui.originalVolume.value);
    source.connect(state.original).connect(ctx.destination);
  }
  state.audio = ctx; state.node = node; state.source = source;
}

function stopAudio() {
  for (const media of [state.media, state.media2]) if (media) media.getTracks().forEach((t) => t.stop());
  state.media2 = null;
  if (state.source && state.source.stop) { try { state.source.stop(); } catch (e) { /* already stopped */ } }
  if (state.audio) state.audio.close();
  state.audio = state.node = state.source = state.media = null;
}

async function begin(makeSource, label) {
  clearError();
  ui.reconnect.hidden = true;
  speech.scheduled = []; speech.spoken = []; speech.pending = null;
  if (speech.ctx) speech.queueEnd = speech.ctx.currentTime;
  state.translating = !!ui.translateTo.value; state.exports = {}; state.finals = []; state.translations = []; state.bySegment = new Map(); state.sentAt0 = null; state.sentSamples = 0; state.stopping = false;
  ui.captions.replaceChildren(); ui.partial.textContent = ""; state.paragraph = null;
  running(true);
  setStatus("Connecting…");
  try {
    state.ws = await connect();
    await startAudio(makeSource);
    setStatus(`Live: ${label}`);
  } catch (e) {
    if (state.ws) state.ws.close();
    state.ws = null;
    stopAudio();
    running(false);
    ui.reconnect.hidden = false;
    setStatus("Not connected");
    const denied = state.lastSource && state.lastSource[0] === "tab"
      ? "Sharing was cancelled or not allowed: pick a tab (with \"Share tab audio\") or a screen."
      : "Microphone access was denied: allow it in the browser's site settings, or stream a file.";
    showError(e.name === "NotAllowedError" ? denied : e.message);
  }
}

function micSource() {
  return async (ctx) => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error("This browser cannot capture audio here (the page needs https or localhost).");
    const media = await navigator.mediaDevices.getUserMedia({ audio: micConstraints() });
    state.media = media;
    return ctx.createMediaStreamSource(media);
  };
}

// The browser's own clean-up (echo cancellation, noise suppression, gain control) is off
// unless asked for: it is made for calls, and it can remove speech Whisper would have heard.
function micConstraints() {
  const clean = ui.cleanup.checked;
  return { channelCount: 1, echoCancellation: clean, noiseSuppression: clean, autoGainControl: clean };
}

// A tab's or the screen's sound (what a meeting or a video in another tab plays), with the
// microphone mixed in when asked.
function tabSource() {
  return async (ctx) => {
    const shared = await navigator.mediaDevices.getDisplayMedia({
      video: true, audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false }, systemAudio: "include",
    });
    state.media = shared;
    if (!shared.getAudioTracks().length) {
      throw new Error("The shared tab or screen has no sound: share a tab and tick \"Share tab audio\".");
    }
    shared.getVideoTracks().forEach((t) => { t.onended = () => { if (state.ws) stop(); }; });
    shared.getAudioTracks().forEach((t) => { t.onended = () => { if (state.ws) stop(); }; });
    const mix = ctx.createGain();
    ctx.createMediaStreamSource(new MediaStream(shared.getAudioTracks())).connect(mix);
    if (ui.withMic.checked) {
      state.media2 = await navigator.mediaDevices.getUserMedia({ audio: micConstraints() });
      ctx.createMediaStreamSource(state.media2).connect(mix);
    }
    return mix;
  };
}

function fileSource(file) {
  return async (ctx) => {
    let buffer;
    try { buffer = await ctx.decodeAudioData(await file.arrayBuffer()); } catch (e) { throw new Error(`This browser cannot decode ${file.name}.`); }
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.onended = () => { if (state.ws) stop(); };
    source.start();
    return source;
  };
}

function stop() {
  const ws = state.ws;
  stopAudio();
  if (ws && ws.readyState === WebSocket.OPEN) {
    state.stopping = true;
    setStatus("Finishing…");
    ws.send(JSON.stringify({ type: "stop", export: ["srt", "vtt"] }));
  }
  ui.stop.disabled = true;
}

function save(format) {
  const text = state.exports[format];
  const blob = new Blob([text], { type: format === "srt" ? "application/x-subrip" : "text/vtt" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `captions.${format}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function download(format) {
  const ws = state.ws;
  if (ws && ws.readyState === WebSocket.OPEN && !state.stopping) {
    state.pendingDownload = format;
    ws.send(JSON.stringify({ type: "export", format }));
  } else if (state.exports[format]) {
    save(format);
  }
}

ui.mic.addEventListener("click", () => { state.lastSource = ["mic"]; begin(micSource(), "microphone"); });
ui.tab.hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
ui.tab.addEventListener("click", () => { state.lastSource = ["tab"]; begin(tabSource(), "shared tab"); });
ui.file.addEventListener("change", () => {
  const file = ui.file.files[0];
  if (!file) return;
  state.lastSource = ["file", file];
  begin(fileSource(file), file.name);
  ui.file.value = "";
});
ui.stop.addEventListener("click", stop);
ui.reconnect.addEventListener("click", () => {
  const last = state.lastSource;
  if (last && last[0] === "file") begin(fileSource(last[1]), last[1].name);
  else if (last && last[0] === "tab") begin(tabSource(), "shared tab");
  else begin(micSource(), "microphone");
});
ui.srt.addEventListener("click", () => download("srt"));
ui.vtt.addEventListener("click", () => download("vtt"));
window.voicestream = { state, download }; // for tests and debugging

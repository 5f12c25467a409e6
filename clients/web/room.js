// A viewer of a caption room (/watch?room=NAME): connects, keeps alive, reconnects, and hands
// the page each final (revisions and speaker corrections applied), partial and translation.

export function params() {
  const q = new URLSearchParams(location.search);
  return { room: q.get("room") || "", token: q.get("token") || "", lang: (q.get("lang") || q.get("translate_to") || "").toLowerCase(), q };
}

export function watchRoom({ room, token, lang }, view) {
  const finals = [];  // the room's current finals, in order
  const translations = [];
  let ws = null, done = false, retry = 500, beat = null, language = lang;

  function url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const extra = language ? `&translate_to=${encodeURIComponent(language)}` : "";
    return `${scheme}://${location.host}/watch?room=${encodeURIComponent(room)}${extra}`;
  }

  function revise(event) {
    const at = finals.findIndex((f) => event.replaces.includes(f.id));
    const kept = finals.filter((f) => !event.replaces.includes(f.id));
    const before = finals.slice(0, Math.max(at, 0)).filter((f) => !event.replaces.includes(f.id)).length;
    kept.splice(at < 0 ? kept.length : before, 0, ...event.finals);
    finals.splice(0, finals.length, ...kept);
  }

  function onEvent(event) {
    switch (event.type) {
      case "joined":
        finals.splice(0, finals.length, ...event.history);
        translations.splice(0, translations.length, ...event.translations.filter((t) => t.text));
        view.status(event.live ? `Live: ${event.viewers} watching` : "Waiting for the speaker…");
        view.redraw(finals, translations, language); break;
      case "partial": view.partial(event.text); break;
      case "final": finals.push(event); view.partial(""); view.redraw(finals, translations, language); view.status("Live"); break;
      case "revision": revise(event); view.redraw(finals, translations, language); break;
      case "speaker_update": {
        const f = finals.find((x) => x.id === event.final);
        if (f) { f.speaker = event.speaker; f.words.forEach((w, k) => { w.speaker = event.speakers[k]; }); }
        view.redraw(finals, translations, language); break;
      }
      case "translation":
        if (event.text) { translations.push(event); view.redraw(finals, translations, language); }
        else if (event.error) view.error(`No translation: ${event.error}`);
        break;
      case "done": done = true; view.partial(""); view.status("The talk has ended"); break;
      case "error": if (event.code !== 1001) view.error(event.reason); break;
    }
  }

  function open() {
    const protocols = ["voicestream.v1"];
    if (token) protocols.push(`bearer.${token}`);
    ws = new WebSocket(url(), protocols);
    ws.onopen = () => {
      retry = 500;
      beat = setInterval(() => ws.readyState === 1 && ws.send(JSON.stringify({ type: "keepalive" })), 10000);
    };
    ws.onmessage = (msg) => onEvent(JSON.parse(msg.data));
    ws.onclose = (e) => {
      clearInterval(beat);
      if (done || [4400, 4401, 4403].includes(e.code)) {
        if (!done) view.error(e.reason || "refused");
        return;
      }
      view.status("Reconnecting…");
      setTimeout(open, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  open();
  return {
    setLanguage(next) {
      language = next;
      translations.splice(0, translations.length);
      if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "watch", translate_to: next || null }));
      view.redraw(finals, translations, language);
    },
  };
}

// The lines to show: translations in the chosen language, else the finals, grouped by speaker.
export function lines(finals, translations, language) {
  if (language) return translations.map((t) => ({ speaker: t.speaker || null, text: t.text }));
  const out = [];
  for (const f of finals) {
    const last = out[out.length - 1];
    if (last && last.speaker === (f.speaker || null) && !/[.!?…。]$/.test(last.text)) last.text += " " + f.text;
    else out.push({ speaker: f.speaker || null, text: f.text });
  }
  return out;
}

// The live page (/console/live): the microphone → 24 kHz pcm16 mono → base64 →
// input_audio_buffer.append every ~100 ms over a WebSocket to /v1/realtime?intent=transcription
// (docs/live.md). The stream token is offered as the subprotocol openai-insecure-api-key.TOKEN
// (in the query only when it holds a character a subprotocol cannot: a separator such as
// "/"). Text from the server is shown with textContent, never as markup.
"use strict";

(function () {
  const RATE = 24000;
  const SEND_EVERY = 2400; // samples at 24 kHz: 100 ms
  const form = document.getElementById("live-form");
  if (!form) return;
  const tokenInput = document.getElementById("live-token");
  const conversationInput = document.getElementById("live-conversation");
  const startButton = document.getElementById("live-start");
  const stopButton = document.getElementById("live-stop");
  const statusLine = document.getElementById("live-status");
  const errorLine = document.getElementById("live-error");
  const partial = document.getElementById("live-partial");
  const lines = document.getElementById("live-lines");

  let socket = null;
  let context = null;
  let stream = null;
  let pending = []; // Int16Array pieces at 24 kHz waiting to be sent
  let pendingLength = 0;
  let carry = 0; // the downsampler's position between blocks
  let stopping = false;

  function say(text) {
    statusLine.textContent = text;
  }

  function fail(text) {
    errorLine.textContent = text;
    errorLine.hidden = false;
  }

  function setRunning(running) {
    startButton.disabled = running;
    stopButton.disabled = !running;
    tokenInput.disabled = running;
    conversationInput.disabled = running;
  }

  // Average the input's samples into 24 kHz ones (a box filter: enough for speech).
  function downsample(block, inRate) {
    const ratio = inRate / RATE;
    const out = [];
    let position = carry;
    while (position + ratio <= block.length) {
      const from = Math.floor(position);
      const to = Math.max(from + 1, Math.floor(position + ratio));
      let sum = 0;
      for (let i = from; i < to; i++) sum += block[i];
      out.push(sum / (to - from));
      position += ratio;
    }
    carry = position - block.length;
    const samples = new Int16Array(out.length);
    for (let i = 0; i < out.length; i++) {
      const s = Math.max(-1, Math.min(1, out[i]));
      samples[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
    }
    return samples;
  }

  function base64Of(samples) {
    const bytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return window.btoa(text);
  }

  function flush() {
    if (!pendingLength || !socket || socket.readyState !== WebSocket.OPEN) return;
    const joined = new Int16Array(pendingLength);
    let offset = 0;
    for (const piece of pending) {
      joined.set(piece, offset);
      offset += piece.length;
    }
    pending = [];
    pendingLength = 0;
    socket.send(JSON.stringify({ type: "input_audio_buffer.append", audio: base64Of(joined) }));
  }

  function onBlock(block) {
    if (stopping) return;
    const samples = downsample(block, context.sampleRate);
    if (!samples.length) return;
    pending.push(samples);
    pendingLength += samples.length;
    if (pendingLength >= SEND_EVERY) flush();
  }

  function languageOf(code) {
    if (!code) return "";
    try {
      const name = new Intl.DisplayNames(["en"], { type: "language" }).of(code);
      return name && name !== code ? name + " (" + code + ")" : code;
    } catch (error) {
      return code;
    }
  }

  function addLine(transcript, language) {
    const item = document.createElement("li");
    const words = document.createElement("span");
    words.className = "live-words";
    words.textContent = transcript;
    item.appendChild(words);
    if (language) {
      const tag = document.createElement("span");
      tag.className = "live-language muted";
      tag.textContent = " · " + languageOf(language);
      item.appendChild(tag);
    }
    lines.appendChild(item);
  }

  function onEvent(message) {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    const type = event && event.type;
    if (type === "session.created" || type === "transcription_session.created") {
      say("Listening: speak now.");
    } else if (type === "input_audio_buffer.speech_started") {
      say("Hearing speech…");
    } else if (type === "input_audio_buffer.speech_stopped") {
      say("Transcribing what was said…");
    } else if (type === "conversation.item.input_audio_transcription.delta") {
      partial.textContent += String(event.delta || "");
    } else if (type === "conversation.item.input_audio_transcription.completed") {
      partial.textContent = "";
      addLine(String(event.transcript || ""), event.language ? String(event.language) : "");
      if (!stopping) say("Listening: speak now.");
    } else if (type === "conversation.item.input_audio_transcription.failed") {
      partial.textContent = "";
      const reason = event.error && event.error.message ? String(event.error.message) : "unknown";
      fail("An utterance could not be transcribed: " + reason);
    } else if (type === "error") {
      const error = event.error || {};
      const code = error.code ? " (" + String(error.code) + ")" : "";
      fail("The service said: " + String(error.message || "an error") + code);
    }
  }

  function closedInWords(event) {
    if (event.code === 1000) return "The stream ended.";
    if (event.code === 1006) {
      return "The connection was refused or lost: check the stream token (a wrong or disabled " +
        "account's token is refused), and that no more streams are open than the account may have.";
    }
    if (event.code === 1009) return "The connection was closed: a message was too large.";
    if (event.code === 1012) return "The service is restarting: start again in a moment.";
    if (event.code === 4400) return "The connection was closed: a value was not accepted.";
    if (event.code === 4401) return "The stream token was refused.";
    if (event.code === 4429) return "Too many streams are open for this account.";
    return "The connection was closed (code " + event.code + (event.reason ? ": " + event.reason : "") + ").";
  }

  async function releaseAudio() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    if (context) {
      const closing = context;
      context = null;
      try {
        await closing.close();
      } catch (error) {
        // already closed
      }
    }
  }

  async function start() {
    errorLine.hidden = true;
    errorLine.textContent = "";
    partial.textContent = "";
    const token = tokenInput.value.trim();
    const conversation = conversationInput.value.trim();
    if (!/^[\x21-\x7e]{24,4096}$/.test(token)) {
      fail("That is not a stream token (24 to 4096 visible characters, no spaces).");
      return;
    }
    if (conversation && !/^[1-9][0-9]*$/.test(conversation)) {
      fail("The conversation id must be a positive number.");
      return;
    }
    stopping = false;
    setRunning(true);
    say("Asking for the microphone…");
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      context = new AudioContext();
      await context.audioWorklet.addModule("/console/static/live-worklet.js");
    } catch (error) {
      await releaseAudio();
      setRunning(false);
      say("Not started.");
      fail("The microphone could not be used: " + (error && error.message ? error.message : error));
      return;
    }
    carry = 0;
    pending = [];
    pendingLength = 0;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    let url = scheme + "//" + window.location.host + "/v1/realtime?intent=transcription";
    if (conversation) url += "&conversation_id=" + encodeURIComponent(conversation);
    say("Connecting…");
    // A subprotocol cannot hold HTTP's separators: a token with one goes in the query instead.
    const asProtocol = !/[()<>@,;:\\"/\[\]?={}]/.test(token);
    if (!asProtocol) url += "&token=" + encodeURIComponent(token);
    const protocols = asProtocol ? ["realtime", "openai-insecure-api-key." + token] : ["realtime"];
    socket = new WebSocket(url, protocols);
    const opened = socket;
    opened.addEventListener("open", function () {
      const source = context.createMediaStreamSource(stream);
      const capture = new AudioWorkletNode(context, "capture");
      capture.port.onmessage = function (message) { onBlock(message.data); };
      source.connect(capture);
    });
    opened.addEventListener("message", onEvent);
    opened.addEventListener("close", function (event) {
      if (socket === opened) socket = null;
      releaseAudio();
      setRunning(false);
      partial.textContent = "";
      if (event.code === 1000 && stopping) say("Stopped.");
      else {
        say("Not started.");
        fail(closedInWords(event));
      }
    });
  }

  async function stop() {
    stopping = true;
    stopButton.disabled = true;
    flush();
    await releaseAudio();
    say("Stopping: transcribing what was said last…");
    // Closing makes the service commit what was being said and answer every utterance
    // before it closes 1000.
    if (socket) socket.close(1000);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    start();
  });
  stopButton.addEventListener("click", stop);
})();

// A session's live progress: Server-Sent Events read with fetch (EventSource cannot send
// the bearer token). After a cut it reconnects with Last-Event-ID, so the server resumes
// right after the last message seen: no step lost; a message whose `sequence` was already
// seen is dropped, so none is repeated. It does not rely on the stream closing after a
// terminal message (a server may keep it open across tasks): it follows until stopped.

import { token } from "./api.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function followProgress(sessionId, onMessage, onState = () => {}) {
  let stopped = false;
  let controller = null;
  let lastId = null;
  let lastSequence = 0;
  let retryMs = 2000;
  let broken = false;

  const dispatch = (event) => {
    if (event.id !== null) lastId = event.id;
    if (event.retry) retryMs = event.retry;
    if (!event.data) return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (event.event === "unavailable") {
      onState("unavailable", message.detail || "live progress unavailable");
      return;
    }
    const sequence = Number(message.sequence);
    if (Number.isFinite(sequence)) {
      if (sequence <= lastSequence) return;
      lastSequence = sequence;
    }
    onMessage(message, { id: event.id, type: event.event });
  };

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      const headers = { Accept: "text/event-stream", Authorization: `Bearer ${token.get()}` };
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      try {
        const response = await fetch(`/api/sessions/${sessionId}/progress/stream`, {
          headers, signal: controller.signal, cache: "no-store",
        });
        if (response.status === 401 || response.status === 404) {
          onState("refused", `HTTP ${response.status}`);
          return;
        }
        if (!response.ok) {
          onState("unavailable", `HTTP ${response.status}`);
          await sleep(Math.max(retryMs, 10000));  // e.g. 503 without NATS: ask again now and then
          continue;
        } else {
          onState(broken ? "resumed" : "live", lastId);
          broken = false;
          await readEvents(response.body, dispatch);
          if (stopped) return;
          // Ended by the server (an older server ends it after a terminal message):
          // listen on for the next task, quietly.
          onState("ended", lastId);
          await sleep(250);
          continue;
        }
      } catch (error) {
        if (stopped) return;
        broken = true;
      }
      if (stopped) return;
      onState("reconnecting", lastId);
      await sleep(retryMs);
    }
  }

  run();
  return {
    stop() {
      stopped = true;
      if (controller) controller.abort();
    },
    get lastSequence() {
      return lastSequence;
    },
  };
}

async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { id: null, event: "message", data: "", retry: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        dispatch(event);
        event = { id: null, event: "message", data: "", retry: null };
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value2 = colon < 0 ? "" : line.slice(colon + 1);
      if (value2.startsWith(" ")) value2 = value2.slice(1);
      if (field === "data") event.data = event.data ? `${event.data}\n${value2}` : value2;
      else if (field === "event") event.event = value2;
      else if (field === "id") event.id = value2;
      else if (field === "retry" && /^\d+$/.test(value2)) event.retry = Number(value2);
    }
  }
}

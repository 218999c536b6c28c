// The dashboard's only script, loaded from 'self' (the CSP allows no inline script).
// Its jobs: the copy button of a new API key, the live numbers of the overview (pushed as
// server-sent events), and the playground's streamed chat.
"use strict";

function setupCopy() {
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        button.textContent = "Copied";
      } catch {
        // No clipboard permission (plain http, old browser): the text stays selected.
        button.textContent = "Press Ctrl+C";
      }
    });
  }
}

function lookup(data, path) {
  return path.split(".").reduce((value, part) => (value == null ? value : value[part]), data);
}

// Tables whose rows come and go (traffic by model, workers) are rebuilt from the JSON:
// text only, never HTML, so nothing in a model or worker name can inject markup. A cell
// given as a function builds its own content.
function renderRows(tableId, items, cellsOf, empty) {
  const table = document.getElementById(tableId);
  if (!table || !items) return;
  const rows = items.map((item) => {
    const row = document.createElement("tr");
    for (const content of cellsOf(item)) {
      const cell = row.insertCell();
      if (typeof content === "function") cell.append(content());
      else cell.textContent = String(content);
    }
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement("tr");
    const cell = row.insertCell();
    cell.colSpan = table.tHead.rows[0].cells.length;
    cell.textContent = empty;
    rows.push(row);
  }
  table.tBodies[0].replaceChildren(...rows);
}

function renderTraffic(traffic) {
  if (!traffic) return;
  renderRows("traffic-table", traffic.rows, (t) => [
    t.name, t.requests,
    () => {
      const meter = document.createElement("meter");
      meter.min = 0;
      meter.max = traffic.total;
      meter.value = t.requests;
      meter.textContent = String(t.requests);
      return meter;
    },
    t.per_second, t.errors, t.latency_p50 + " / " + t.latency_p99,
    t.ttft_p50 + " / " + t.ttft_p99, "$" + t.cost,
  ], "No requests in this range.");
}

function renderWorkers(workers) {
  renderRows("workers-table", workers, (w) => [
    w.id, w.models, w.health, w.heartbeat_age_s, w.in_flight, w.gpu_utilisation,
  ], "No workers.");
}

function setupOverview() {
  const root = document.getElementById("overview");
  if (!root) return;
  const status = document.getElementById("live-status");

  function show(data) {
    for (const node of root.querySelectorAll("[data-field]")) {
      const value = lookup(data, node.dataset.field);
      if (value != null) node.textContent = String(value);
    }
    for (const meter of root.querySelectorAll("meter[data-meter]")) {
      const window = lookup(data, meter.dataset.meter);
      if (window && window.limit_micros) meter.value = window.spent_micros;
    }
    renderTraffic(data.traffic);
    renderWorkers(data.workers);
    status.textContent = "Updated " + new Date().toLocaleTimeString();
  }

  // Pushed by the server (server-sent events); the browser reconnects by itself when a
  // stream ends. A stream refused outright (signed out) is checked once with a plain
  // request: 401 goes to the sign-in page, anything else is said and retried.
  function listen() {
    const events = new EventSource(root.dataset.stream);
    events.addEventListener("numbers", (event) => show(JSON.parse(event.data)));
    events.addEventListener("error", async () => {
      if (events.readyState !== EventSource.CLOSED) return;
      try {
        const response = await fetch(root.dataset.source, { credentials: "same-origin" });
        if (response.status === 401) {
          window.location.assign("/dashboard/login");
          return;
        }
        if (!response.ok) throw new Error("the server answered " + response.status);
        show(await response.json());
      } catch (error) {
        status.textContent = "Live update failed: " + error.message;
      }
      setTimeout(listen, 5000);
    });
  }
  listen();
}

// The playground calls the public /v1 hot route with a short-lived token of this login
// session (kept in this variable only: never in storage, gone with the page).
let playToken = null;

async function playgroundToken(form) {
  if (playToken && playToken.expires_at * 1000 > Date.now() + 15000) return playToken.token;
  const response = await fetch("/dashboard/playground/token", {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": form.dataset.csrf },
  });
  if (response.status === 401) {
    window.location.assign("/dashboard/login");
    throw new Error("signed out");
  }
  if (!response.ok) throw new Error("could not get a playground token (" + response.status + ")");
  playToken = await response.json();
  return playToken.token;
}

async function apiError(response) {
  // The API's error shape: {"error": {"message", "type", "code"}}.
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch {
    // not JSON: fall through to the status
  }
  return "the server answered " + response.status;
}

function showSnippets(request) {
  const curl = document.getElementById("snippet-curl");
  const base = curl.dataset.base;
  const body = JSON.stringify(request, null, 2);
  curl.textContent =
    "curl " + base + "/v1/chat/completions \\\n" +
    "  -H \"Authorization: Bearer $GPUPROXY_API_KEY\" \\\n" +
    "  -H \"Content-Type: application/json\" \\\n" +
    "  -d '" + body.replace(/'/g, "'\\''") + "'";
  document.getElementById("snippet-python").textContent =
    "import os\nfrom openai import OpenAI\n\n" +
    "client = OpenAI(base_url=\"" + base + "/v1\", api_key=os.environ[\"GPUPROXY_API_KEY\"])\n" +
    "stream = client.chat.completions.create(\n" +
    "    model=" + JSON.stringify(request.model) + ",\n" +
    "    messages=" + JSON.stringify(request.messages) + ",\n" +
    "    temperature=" + request.temperature + ",\n" +
    "    max_tokens=" + request.max_tokens + ",\n" +
    "    stream=True,\n)\n" +
    "for chunk in stream:\n" +
    "    if chunk.choices:\n" +
    "        print(chunk.choices[0].delta.content or \"\", end=\"\")\n";
}

async function loadModels(form, select, fail) {
  try {
    const token = await playgroundToken(form);
    const response = await fetch("/v1/models", { headers: { Authorization: "Bearer " + token } });
    if (!response.ok) throw new Error(await apiError(response));
    const models = (await response.json()).data || [];
    select.replaceChildren();
    if (models.length === 0) {
      select.append(new Option("no model is being served", ""));
      return;
    }
    for (const model of models) select.append(new Option(model.id, model.id));
  } catch (error) {
    fail("Could not list the models: " + error.message);
  }
}

async function streamChat(form, request, output, usage) {
  const token = await playgroundToken(form);
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
  });
  if (!response.ok) throw new Error(await apiError(response));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let chunks = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message || "the stream failed");
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) {
          output.textContent += delta.content;
          chunks += 1;
          output.dataset.chunks = String(chunks);
        }
        if (chunk.usage) {
          usage.textContent =
            "Tokens: " + chunk.usage.prompt_tokens + " in, " +
            chunk.usage.completion_tokens + " out" +
            (chunk.usage.cost != null ? " · cost $" + chunk.usage.cost : "");
        }
      }
    }
  }
}

function setupPlayground() {
  const form = document.getElementById("playground");
  if (!form) return;
  const select = document.getElementById("play-model");
  const output = document.getElementById("play-output");
  const usage = document.getElementById("play-usage");
  const errorBox = document.getElementById("play-error");
  const send = document.getElementById("play-send");
  function fail(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }
  loadModels(form, select, fail);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    output.textContent = "";
    output.dataset.chunks = "0";
    output.dataset.done = "false";
    usage.textContent = "";
    const request = {
      model: select.value,
      messages: [{ role: "user", content: form.elements.message.value }],
      temperature: Number(form.elements.temperature.value),
      max_tokens: Number(form.elements.max_tokens.value),
    };
    showSnippets(request);
    send.disabled = true;
    try {
      await streamChat(form, request, output, usage);
    } catch (error) {
      fail("The chat failed: " + error.message);
    } finally {
      send.disabled = false;
      output.dataset.done = "true";
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupCopy();
  setupOverview();
  setupPlayground();
});

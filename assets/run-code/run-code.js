// The Run code button of a notebook page: the page's code cells, editable, run on a Try-now server.
//
// Bundled with @jupyterlab/services by esbuild (assets/vendor.py) into the libraries every site
// ships; a page that has the button names this script (oersite.sphinx_ext) with its settings as
// data attributes: the Try-now hub (data-hub-url), the nbgitpuller query of its Try now link
// (data-pull-query), the notebook's path on the server (data-notebook), where JupyterLab
// opens it (data-open-path) and, when the page leaves some code out or marks set-up cells, the
// notebook's code cells in order (data-cells: "Run all above" runs the hidden ones too, and
// thebe-init cells run as soon as the kernel is there, as in Jupyter Book's live code).
//
// Pressed, the button asks the hub's /hub/run-code (oersite.hub.authenticator.RunCodeHandler) for
// a server and a token for that server alone, pulls the course there as Try now does, and starts
// (or finds) the notebook's session, so the kernel runs in the notebook's folder. The server is
// remembered for the tab (sessionStorage): another page, or a reload, uses it again until the hub
// culls it. Without JavaScript the button is never made, and the page is as it was.

import { KernelManager, ServerConnection, SessionManager } from "@jupyterlab/services";

const STORAGE_KEY = "oersite-run-code";
const FULL =
  "The Try-now hub is full right now, so this page cannot run its code: try again in a minute. The outputs shown are the ones stored with the page.";
const UNREACHABLE =
  "The Try-now hub cannot be reached, so this page cannot run its code now. The outputs shown are the ones stored with the page.";

function settingsOf(script) {
  return {
    hub: script.dataset.hubUrl.replace(/\/+$/, ""),
    pullQuery: script.dataset.pullQuery,
    notebook: script.dataset.notebook,
    openPath: script.dataset.openPath,
    cells: cellsOf(script.dataset.cells),
  };
}

// The notebook's code cells in order (oersite.launch.run_code_cells), when the page does not show
// them all: {shown: true} for a cell the page shows (its code is in the page), {shown: false, code}
// for one it leaves out (remove-input, remove-cell), init: true for a thebe-init cell.
function cellsOf(text) {
  try {
    const cells = JSON.parse(text || "[]");
    return Array.isArray(cells) ? cells : [];
  } catch {
    return [];
  }
}

class HubRefused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The server: asked for once per tab, remembered while it answers.

function remembered(hub) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (saved && saved.hub === hub && saved.expires > Date.now()) return saved;
  } catch (error) {
    // storage off or unreadable: ask for a server
  }
  return null;
}

function remember(server) {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(server));
  } catch (error) {
    // storage off: this page keeps the server, the next asks again
  }
}

function forget() {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch (error) {
    // nothing remembered
  }
}

async function askHub(hub) {
  let response;
  try {
    response = await fetch(`${hub}/hub/run-code`, { method: "POST", credentials: "omit", cache: "no-store" });
  } catch (error) {
    throw new HubRefused(0, UNREACHABLE);
  }
  if (response.status === 429) throw new HubRefused(429, FULL);
  if (!response.ok) throw new HubRefused(response.status, UNREACHABLE);
  const answer = await response.json();
  return {
    hub,
    user: answer.user,
    url: new URL(answer.server, hub + "/").href,
    token: answer.token,
    pooled: answer.pooled,
    pulled: false,
    expires: Date.now() + (answer.expires_in - 60) * 1000,
  };
}

async function stillThere(server) {
  try {
    const response = await fetch(`${server.url}api/status`, {
      headers: { Authorization: `token ${server.token}` },
      credentials: "omit",
      cache: "no-store",
    });
    return response.ok;
  } catch (error) {
    return false;
  }
}

async function pull(server, pullQuery) {
  // nbgitpuller's API, as its page calls it: the course merged into the clone folder, streamed.
  const response = await fetch(`${server.url}git-pull/api?${pullQuery}`, {
    headers: { Authorization: `token ${server.token}` },
    credentials: "omit",
    cache: "no-store",
  });
  const text = await response.text();
  if (!response.ok || !text.includes('"phase": "finished"')) {
    throw new HubRefused(response.status, "The course could not be copied to the server; try Run code again.");
  }
}

function connectionTo(server) {
  const wsUrl = server.url.replace(/^http/, "ws");
  return ServerConnection.makeSettings({
    baseUrl: server.url,
    wsUrl,
    token: server.token,
    appendToken: true,
    init: { credentials: "omit", cache: "no-store" },
  });
}

// The page: a button, a status line, editable cells and their outputs.

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

class RunCodePage {
  constructor(settings) {
    this.settings = settings;
    this.kernel = null;
    this.queue = Promise.resolve();
    this.cells = [];
    this.setUpFailure = null; // what a set-up cell the page does not show raised, until said
  }

  place() {
    const tryNow = [...document.querySelectorAll("a")].find((link) =>
      link.href.startsWith(`${this.settings.hub}/hub/user-redirect/git-pull`),
    );
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.className = "btn btn-sm oersite-run-code";
    this.button.title = "Edit and run this page's code here, on a temporary server: no sign-in";
    this.button.innerHTML =
      '<span class="btn__icon-container"><i class="fas fa-play" aria-hidden="true"></i></span>' +
      '<span class="btn__text-container">Run code</span>';
    this.button.addEventListener("click", () => this.start());
    this.status = document.createElement("p");
    this.status.className = "oersite-run-code-status";
    this.status.setAttribute("role", "status");
    const article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
    article.prepend(this.status);
    if (tryNow) {
      const item = tryNow.closest(".dropdown-menu li") || tryNow;
      if (item.tagName === "LI") {
        // sphinx-book-theme groups launch links in a dropdown: the button goes beside the group.
        const group = item.closest(".dropdown") || item;
        group.after(this.button);
      } else {
        tryNow.after(this.button);
      }
    } else {
      article.prepend(this.button);
    }
  }

  say(text) {
    this.status.textContent = text;
  }

  async start() {
    if (this.starting) return;
    this.starting = true;
    this.button.disabled = true;
    this.say("Starting a server for this page's code…");
    try {
      const server = await this.server();
      this.makeCellsEditable(server);
      this.button.remove();
      const atStart = this.order.filter((item) => item.init);
      if (atStart.length) {
        this.say("Running the page's set-up cells…");
        for (const item of atStart) this.runItem(item);
        await this.queue;
      }
      const failure = this.takeSetUpFailure();
      this.say(
        "Ready: edit a cell, then press its Run cell button or Shift+Enter. Outputs replace the stored ones." +
          (failure ? ` ${failure}` : ""),
      );
      const first = this.cells[0];
      if (first) first.editor.focus();
    } catch (error) {
      this.say(error instanceof HubRefused ? error.message : UNREACHABLE);
      this.button.disabled = false;
      if (window.console) console.warn("Run code:", error);
    } finally {
      this.starting = false;
    }
  }

  async server() {
    const { hub, pullQuery, notebook } = this.settings;
    let server = remembered(hub);
    if (server && !(await stillThere(server))) {
      forget();
      server = null;
    }
    const fresh = !server;
    if (!server) server = await askHub(hub);
    remember(server);
    const connection = connectionTo(server);
    const kernels = new KernelManager({ serverSettings: connection });
    const sessions = new SessionManager({ kernelManager: kernels, serverSettings: connection });
    const startSession = () =>
      sessions.startNew({
        path: notebook,
        type: "notebook",
        name: notebook.split("/").pop(),
        kernel: { name: "python3" },
      });
    if (fresh && !server.pooled) {
      // A new server has no course yet: the kernel must start in the notebook's folder.
      await pull(server, pullQuery);
      this.session = await startSession();
    } else {
      // A waiting server has the course: the pull only merges what the course gained since.
      const [, session] = await Promise.all([pull(server, pullQuery), startSession()]);
      this.session = session;
    }
    this.kernel = this.session.kernel;
    this.handedOut = server;
    this.addOpenInLab(server);
    return server;
  }

  addOpenInLab(server) {
    // A form, so the token travels in the body, never in a URL: the hub signs the browser in as the
    // server's user and continues to JupyterLab with this notebook, and its running kernel.
    const form = document.createElement("form");
    form.method = "post";
    form.action = `${server.hub}/hub/run-code`;
    form.target = "_blank";
    form.className = "oersite-open-in-lab";
    for (const [name, value] of [
      ["open", "1"],
      ["token", server.token],
      ["path", this.settings.openPath],
    ]) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    }
    const submit = document.createElement("button");
    submit.type = "submit";
    submit.className = "btn btn-sm";
    submit.textContent = "Open in JupyterLab";
    form.append(submit);
    this.status.after(form);
  }

  makeCellsEditable(server) {
    const cells = [...document.querySelectorAll("div.cell")].filter((cell) => cell.querySelector(".cell_input pre"));
    cells.forEach((cell, index) => {
      const number = index + 1;
      const input = cell.querySelector(".cell_input");
      const shown = input.querySelector("div.highlight, pre");
      const code = input.querySelector("pre").textContent.replace(/\n$/, "");
      const editor = document.createElement("textarea");
      editor.className = "oersite-cell-editor";
      editor.value = code;
      editor.spellcheck = false;
      editor.rows = Math.min(30, code.split("\n").length + 1);
      editor.setAttribute("aria-label", `Code of cell ${number}`);
      editor.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && event.shiftKey) {
          event.preventDefault();
          this.run(entry);
        }
      });
      const tools = document.createElement("div");
      tools.className = "oersite-cell-tools";
      const runCell = this.toolButton("Run cell", `Run cell ${number}`, () => this.run(entry));
      const runAbove = this.toolButton("Run all above", `Run the cells above cell ${number}`, () =>
        this.runAbove(entry),
      );
      tools.append(runCell, runAbove);
      if (shown) shown.hidden = true;
      input.append(editor, tools);
      let output = cell.querySelector(".cell_output");
      if (!output) {
        output = document.createElement("div");
        output.className = "cell_output docutils container";
        cell.append(output);
      }
      // The figure's text alternative the book gave (oersite.figures): the live figure's too, while the code is the book's.
      const figure = output.querySelector("[data-oersite-alt]");
      const entry = { number, editor, output, cell, server, original: code, alt: figure && figure.dataset.oersiteAlt };
      this.cells.push(entry);
    });
    this.order = this.notebookOrder();
  }

  notebookOrder() {
    // The notebook's code cells in order: the page's editors, and the code of those it leaves out.
    // Should the page's cells not match the notebook's (a theme or myst-nb setting hiding others),
    // only the page's own cells run.
    const cells = this.settings.cells;
    const shown = cells.filter((cell) => cell.shown).length;
    if (!cells.length || shown !== this.cells.length) return this.cells.map((entry) => ({ entry, init: false }));
    let next = 0;
    return cells.map((cell) =>
      cell.shown
        ? { entry: this.cells[next++], init: Boolean(cell.init) }
        : { code: String(cell.code || ""), init: Boolean(cell.init) },
    );
  }

  runAbove(entry) {
    const at = this.order.findIndex((item) => item.entry === entry);
    this.order.slice(0, at).forEach((item) => this.runItem(item));
  }

  runItem(item) {
    return item.entry ? this.run(item.entry) : this.runUnshown(item.code);
  }

  runUnshown(code) {
    // A cell the page does not show: its outputs are not the page's to show; an error is said.
    this.queue = this.queue.then(async () => {
      const future = this.kernel.requestExecute({ code, store_history: true });
      let raised = null;
      future.onIOPub = (message) => {
        if (message.header.msg_type === "error") raised = message.content.ename;
      };
      try {
        await future.done;
      } catch (error) {
        raised = raised || (error && error.content && error.content.ename) || "an error";
      }
      if (raised) this.setUpFailure = `A set-up cell this page does not show raised ${raised}.`;
    }).catch((error) => {
      this.setUpFailure = `A set-up cell this page does not show could not run: ${error.message || error}`;
    });
    return this.queue;
  }

  takeSetUpFailure() {
    // Said with the next status, so that the cell that ran after it does not hide it.
    const failure = this.setUpFailure;
    this.setUpFailure = null;
    return failure;
  }

  toolButton(text, label, action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm oersite-cell-run";
    button.textContent = text;
    button.setAttribute("aria-label", label);
    button.addEventListener("click", action);
    return button;
  }

  run(entry) {
    // One cell at a time, in the order asked, as a notebook runs them.
    this.queue = this.queue.then(() => this.execute(entry)).catch((error) => {
      this.say(`Cell ${entry.number} could not run: ${error.message || error}`);
    });
    return this.queue;
  }

  async execute(entry) {
    const output = entry.output;
    output.setAttribute("aria-busy", "true");
    this.say(`Running cell ${entry.number}…`);
    let cleared = false;
    let clearOnNext = false;
    let raised = null;
    const clear = () => {
      output.replaceChildren();
      cleared = true;
    };
    const future = this.kernel.requestExecute({ code: entry.editor.value, store_history: true });
    future.onIOPub = (message) => {
      const type = message.header.msg_type;
      const content = message.content;
      if (!["stream", "display_data", "execute_result", "error", "clear_output", "update_display_data"].includes(type)) {
        return;
      }
      if (!cleared || clearOnNext) {
        clear();
        clearOnNext = false;
      }
      if (type === "clear_output") {
        if (content.wait) clearOnNext = true;
        else clear();
      } else if (type === "stream") {
        this.stream(output, content.name, content.text);
      } else if (type === "error") {
        raised = content.ename;
        const pre = document.createElement("pre");
        pre.className = "oersite-live-error";
        pre.textContent = content.traceback.join("\n").replace(ANSI, "");
        output.append(pre);
      } else if (type === "update_display_data") {
        const id = content.transient && content.transient.display_id;
        const old = id && output.querySelector(`[data-display-id="${CSS.escape(id)}"]`);
        if (old) old.replaceWith(this.bundle(content.data, entry, id));
      } else {
        const id = content.transient && content.transient.display_id;
        const shown = this.bundle(content.data, entry, id);
        if (shown) output.append(shown);
      }
    };
    let reply = null;
    try {
      reply = await future.done;
    } catch (error) {
      reply = error && error.content ? error : null; // an error reply, with its exception's name
    }
    if (!cleared) clear(); // ran without output: the stored output was the old run's
    output.removeAttribute("aria-busy");
    const replied = reply && reply.content && reply.content.status === "error" ? reply.content.ename : null;
    const failed = raised || replied;
    const setUp = this.takeSetUpFailure();
    this.say((failed ? `Cell ${entry.number} raised ${failed}.` : `Cell ${entry.number} ran.`) + (setUp ? ` ${setUp}` : ""));
  }

  stream(output, name, text) {
    let last = output.lastElementChild;
    if (!last || !last.classList.contains(`oersite-live-${name}`)) {
      last = document.createElement("pre");
      last.className = `oersite-live-stream oersite-live-${name}`;
      output.append(last);
    }
    last.textContent += text.replace(ANSI, "");
  }

  bundle(data, entry, displayId) {
    // BokehJS is on the page already (the site loads it in the head of a page with plots):
    // the cell's own inline copy would make a second Bokeh.
    if (data["application/vnd.bokehjs_load.v0+json"] && window.Bokeh) return null;
    const element = document.createElement("div");
    element.className = "output oersite-live-output";
    if (displayId) element.dataset.displayId = displayId;
    const html = data["text/html"];
    const script = data["application/javascript"];
    const alt = this.altOf(entry);
    if (html !== undefined) {
      const markup = Array.isArray(html) ? html.join("") : html;
      element.innerHTML = this.localLibraries(markup);
      // Named as the book's figures are: a map's frame by its title, a plot as a figure.
      for (const frame of element.querySelectorAll("iframe:not([title])")) frame.title = alt;
      if (markup.includes("data-root-id")) {
        element.setAttribute("role", "figure");
        element.setAttribute("aria-label", alt);
      }
      this.runScripts(element);
    }
    if (script !== undefined) {
      this.runLater(element, Array.isArray(script) ? script.join("") : script);
    }
    if (html === undefined && script === undefined) {
      if (data["image/png"]) {
        const image = document.createElement("img");
        image.src = `data:image/png;base64,${data["image/png"]}`;
        image.alt = alt;
        element.append(image);
      } else if (data["image/svg+xml"]) {
        const image = document.createElement("img");
        image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(data["image/svg+xml"])}`;
        image.alt = alt;
        element.append(image);
      } else if (data["text/plain"] !== undefined) {
        const pre = document.createElement("pre");
        pre.textContent = String(data["text/plain"]).replace(ANSI, "");
        element.append(pre);
      }
    }
    return element;
  }

  altOf(entry) {
    return entry.alt && entry.editor.value === entry.original ? entry.alt : `Figure drawn by cell ${entry.number}`;
  }

  localLibraries(html) {
    // Folium's maps name the server's copies of their libraries (/user/<name>/oersite-libraries/):
    // absolute on this page, they load from the server, which serves them to any page.
    const prefix = new URL(this.handedOut.url).pathname;
    const origin = new URL(this.handedOut.url).origin;
    return html.split(`${prefix}oersite-libraries/`).join(`${origin}${prefix}oersite-libraries/`);
  }

  runScripts(element) {
    // innerHTML does not run scripts: each is made again, in order, as the stored page's ran.
    for (const old of element.querySelectorAll("script")) {
      const script = document.createElement("script");
      for (const attribute of old.attributes) script.setAttribute(attribute.name, attribute.value);
      script.textContent = old.textContent;
      old.replaceWith(script);
    }
  }

  runLater(element, code) {
    // Jupyter's application/javascript output: run with `element` its output area, once it is in the page.
    requestAnimationFrame(() => {
      try {
        new Function("element", code)(element);
      } catch (error) {
        if (window.console) console.warn("Run code: an output's script failed", error);
      }
    });
  }
}

function main() {
  const script = document.getElementById("oersite-run-code");
  if (!script || !script.dataset.hubUrl) return;
  const page = new RunCodePage(settingsOf(script));
  page.place();
  window.oersiteRunCode = page; // for tests and the curious
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
else main();

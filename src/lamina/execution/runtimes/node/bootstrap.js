// Lamina's Node.js runtime: speaks the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) for one
// function, as AWS's Node runtimes do. Standalone: Node's standard library only.
//
// Handlers: async (a returned promise), callback style (event, context, callback), and the legacy
// context.succeed / context.fail / context.done. The first answer wins; later ones are ignored. A
// callback-style answer waits for the event loop to empty unless the handler set
// context.callbackWaitsForEmptyEventLoop = false; a returned promise's answer does not wait.
// console.log/info/warn/error write AWS's line format: `<ISO time>\t<request id>\t<LEVEL>\t<text>`,
// or one JSON object a line when AWS_LAMBDA_LOG_FORMAT is JSON (filtered by AWS_LAMBDA_LOG_LEVEL).
// An uncaught exception or an unhandled rejection fails the invocation and ends this process, so
// the platform starts a fresh environment next time, as AWS does.
"use strict";

const http = require("http");
const net = require("net");
const path = require("path");
const fs = require("fs");
const util = require("util");
const url = require("url");

const Module = require("module");

let currentRequestId = "";

// --- Transports ----------------------------------------------------------------------------------
// Both answer next() with { requestId, deadlineMs, functionArn, traceId, clientContext,
// cognitoIdentity, body } and post results; neither keeps the event loop alive while a handler
// runs (callbackWaitsForEmptyEventLoop waits for the loop to empty).

// The HTTP Runtime API, as every runtime speaks it.
class HttpRuntimeApi {
  constructor(address) {
    const [host, port] = address.split(":");
    this.host = host;
    this.port = Number(port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 }); // idle sockets are unref'd
  }

  request(method, route, body, headers) {
    return new Promise((resolve, reject) => {
      const all = Object.assign({}, headers || {});
      if (body !== undefined) all["Content-Length"] = Buffer.byteLength(body);
      const options = { host: this.host, port: this.port, method, path: "/2018-06-01/runtime" + route, headers: all, agent: this.agent };
      const req = http.request(options, (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("error", reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  async next() {
    const answer = await this.request("GET", "/invocation/next");
    if (answer.status !== 200) return null;
    const headers = answer.headers;
    return {
      requestId: headers["lambda-runtime-aws-request-id"],
      deadlineMs: Number(headers["lambda-runtime-deadline-ms"] || 0),
      functionArn: headers["lambda-runtime-invoked-function-arn"],
      traceId: headers["lambda-runtime-trace-id"],
      clientContext: headers["lambda-runtime-client-context"],
      cognitoIdentity: headers["lambda-runtime-cognito-identity"],
      body: answer.body,
    };
  }

  async respond(requestId, payload) {
    await this.request("POST", `/invocation/${requestId}/response`, payload, { "Content-Type": "application/json" });
  }

  async fail(requestId, body) {
    await this.postError(`/invocation/${requestId}/error`, body);
  }

  async initError(body) {
    await this.postError("/init/error", body);
  }

  async postError(route, body) {
    await this.request("POST", route, JSON.stringify(body), {
      "Content-Type": "application/json",
      "Lambda-Runtime-Function-Error-Type": body.errorType,
    });
  }
}

// Lamina's framed channel on an inherited socket (LAMINA_RUNTIME_CHANNEL_FD): each message is a
// big-endian (header length, body length) pair, a JSON header and the body; the same operations
// as the HTTP API without HTTP's cost. Posts are not acknowledged.
class FramedRuntimeApi {
  constructor(fd) {
    this.socket = new net.Socket({ fd, readable: true, writable: true });
    this.socket.unref();
    this.buffer = Buffer.alloc(0);
    this.waiting = null;
    this.assigned = null;
    this.socket.on("data", (chunk) => this.received(chunk));
    this.socket.on("end", () => process.exit(0)); // the server went away
    this.socket.on("error", () => process.exit(0));
  }

  received(chunk) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    while (this.buffer.length >= 8) {
      const headerSize = this.buffer.readUInt32BE(0);
      const bodySize = this.buffer.readUInt32BE(4);
      const end = 8 + headerSize + bodySize;
      if (this.buffer.length < end) return;
      const header = JSON.parse(this.buffer.subarray(8, 8 + headerSize).toString("utf8"));
      const body = this.buffer.subarray(8 + headerSize, end);
      this.buffer = this.buffer.subarray(end);
      if (header.type === "assign" && this.assigned) {
        const resolve = this.assigned;
        this.assigned = null;
        this.socket.unref();
        resolve(header);
      } else if (header.type === "invoke" && this.waiting !== null) {
        const resolve = this.waiting;
        this.waiting = null;
        this.socket.unref();
        resolve(Object.assign({}, header, { body: Buffer.from(body) }));
      }
    }
  }

  send(header, body) {
    const encoded = Buffer.from(JSON.stringify(header), "utf8");
    const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(body, "utf8");
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32BE(encoded.length, 0);
    prefix.writeUInt32BE(payload.length, 4);
    this.socket.write(Buffer.concat([prefix, encoded, payload]));
  }

  // A standby's first frame: the environment it becomes ({ type: "assign", env, cwd }).
  assignment() {
    return new Promise((resolve) => {
      this.assigned = resolve;
      this.socket.ref();
    });
  }

  next() {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.ref(); // waiting for work keeps the process alive
      this.send({ type: "next" });
    });
  }

  async respond(requestId, payload) {
    this.send({ type: "response", requestId }, payload);
  }

  async fail(requestId, body) {
    this.send({ type: "error", requestId, errorType: body.errorType }, JSON.stringify(body));
  }

  async initError(body) {
    this.send({ type: "init_error", errorType: body.errorType }, JSON.stringify(body));
    await new Promise((resolve) => this.socket.end(resolve));
  }
}

function runtimeApi() {
  const channel = process.env.LAMINA_RUNTIME_CHANNEL_FD;
  delete process.env.LAMINA_RUNTIME_CHANNEL_FD;
  if (channel && /^\d+$/.test(channel)) return new FramedRuntimeApi(Number(channel));
  return new HttpRuntimeApi(process.env.AWS_LAMBDA_RUNTIME_API);
}

// --- Logging -------------------------------------------------------------------------------------

const LEVELS = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4, FATAL: 5 };
let JSON_LOGS = false;
let MINIMUM_LEVEL = LEVELS.INFO;

// The function's LoggingConfig, read once its environment is known (a standby learns it late).
function configureLogging() {
  JSON_LOGS = process.env.AWS_LAMBDA_LOG_FORMAT === "JSON";
  MINIMUM_LEVEL = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || "").toUpperCase()] ?? LEVELS.INFO;
}

function errorFields(error) {
  return { errorType: error.name, errorMessage: error.message, stackTrace: String(error.stack || "").split("\n") };
}

function jsonLine(level, args) {
  const record = { timestamp: new Date().toISOString(), level, requestId: currentRequestId || undefined };
  if (args.length === 1) {
    record.message = args[0] instanceof Error ? errorFields(args[0]) : args[0];
    try {
      return JSON.stringify(record);
    } catch (_) {
      record.message = util.format(args[0]);
      return JSON.stringify(record);
    }
  }
  record.message = util.format(...args);
  const error = args.find((arg) => arg instanceof Error);
  if (error !== undefined) Object.assign(record, errorFields(error));
  return JSON.stringify(record);
}

// A log line goes to the output pipe before the call returns, as AWS's console writes are
// synchronous: every line of an invocation is in the pipe before its answer is posted, and a
// function that logs faster than the server reads waits instead of buffering in its own memory.
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

function writeOut(text) {
  let data = Buffer.from(text, "utf8");
  while (data.length > 0) {
    try {
      data = data.subarray(fs.writeSync(1, data));
    } catch (error) {
      if (error.code !== "EAGAIN") return; // the pipe is gone: nobody reads the log any more
      Atomics.wait(PAUSE, 0, 0, 1); // someone made the pipe non-blocking (process.stdout): wait
    }
  }
}

function writeLog(level, args) {
  if (JSON_LOGS) {
    if (LEVELS[level] < MINIMUM_LEVEL) return;
    writeOut(jsonLine(level, args).replace(/\n/g, "\r") + "\n");
    return;
  }
  const text = util.format(...args).replace(/\n/g, "\r");
  writeOut(`${new Date().toISOString()}\t${currentRequestId || "undefined"}\t${level}\t${text}\n`);
}

function patchConsole() {
  const write = (level) => (...args) => writeLog(level, args);
  console.log = write("INFO");
  console.info = write("INFO");
  console.warn = write("WARN");
  console.error = write("ERROR");
  console.debug = write("DEBUG");
  console.trace = write("TRACE");
  console.fatal = write("FATAL");
}

// --- Errors --------------------------------------------------------------------------------------

function isError(value) {
  return (
    value instanceof Error ||
    (value != null && typeof value.name === "string" && typeof value.message === "string" && typeof value.stack === "string")
  );
}

// The error document AWS's Node runtimes answer with: an Error's name, message and stack; anything
// else its type and its string (context.fail("x") answers errorType "string").
function errorBody(error, type) {
  try {
    if (isError(error)) {
      const trace = String(error.stack || "").split("\n");
      return { errorType: String(type || error.name), errorMessage: String(error.message), trace };
    }
    return { errorType: type || typeof error, errorMessage: String(error), trace: [] };
  } catch (_) {
    // A name, message or stack that throws when read: what AWS's runtimes answer then.
    const message = "callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack";
    return { errorType: "handled", errorMessage: message, trace: [] };
  }
}

// AWS logs a failure as `<label> \t{"errorType":...,"errorMessage":...,"stack":[...]}`.
function logError(label, body) {
  const logged = { errorType: body.errorType, errorMessage: body.errorMessage, stack: body.trace };
  if (JSON_LOGS) {
    const record = { timestamp: new Date().toISOString(), level: "ERROR", requestId: currentRequestId || undefined };
    Object.assign(record, { message: label, errorType: body.errorType, errorMessage: body.errorMessage, stackTrace: body.trace });
    writeOut(JSON.stringify(record).replace(/\n/g, "\r") + "\n");
    return;
  }
  writeLog("ERROR", [label, "\t" + JSON.stringify(logged)]);
}


// --- Loading the handler -------------------------------------------------------------------------

class InitError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

// The module a handler names, as AWS's Node runtimes find it: the file with .js, .mjs or .cjs,
// else what require() finds for that path (a folder's index.js, a package.json "main"), else a
// package of that name in the function's node_modules. Null when there is none.
function moduleFile(root, directory, name) {
  const base = path.resolve(root, directory, name);
  for (const extension of [".js", ".mjs", ".cjs"]) {
    if (fs.existsSync(base + extension)) return base + extension;
  }
  for (const request of [base, name]) {
    try {
      return require.resolve(request, { paths: [path.resolve(root, directory), root] });
    } catch (_) {
      // not this way
    }
  }
  return null;
}

function isModule(file) {
  if (file.endsWith(".mjs")) return true;
  if (file.endsWith(".cjs")) return false;
  let directory = path.dirname(file);
  for (;;) {
    const manifest = path.join(directory, "package.json");
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, "utf8")).type === "module";
      } catch (_) {
        return false;
      }
    }
    const parent = path.dirname(directory);
    if (parent === directory) return false;
    directory = parent;
  }
}

// A handler is `[folder/]module.path.to.function`: the module name ends at the first dot of the
// last path segment, as AWS's runtimes read it (`index.nested.fn` is `fn` of `nested` in index).
async function loadHandler(root, handlerName) {
  if (handlerName.includes("..")) {
    throw new InitError("Runtime.MalformedHandlerName", "'../' not allowed in handler name. Relative paths are not supported.");
  }
  const slash = handlerName.lastIndexOf("/");
  const directory = handlerName.slice(0, slash + 1);
  const last = handlerName.slice(slash + 1);
  const dot = last.indexOf(".");
  if (dot < 0 || dot === last.length - 1) throw new InitError("Runtime.MalformedHandlerName", "Bad handler");
  const name = last.slice(0, dot);
  const functionPath = last.slice(dot + 1);
  const file = moduleFile(root, directory, name);
  if (file === null) {
    throw new InitError("Runtime.ImportModuleError", `Error: Cannot find module '${name}'\nRequire stack:\n- ${__filename}`);
  }
  let loaded;
  try {
    loaded = isModule(file) ? await import(url.pathToFileURL(file).href) : require(file);
  } catch (error) {
    if (error instanceof SyntaxError) throw new InitError("Runtime.UserCodeSyntaxError", `${error.name}: ${error.message}`);
    if (error && error.code === "MODULE_NOT_FOUND") throw new InitError("Runtime.ImportModuleError", `Error: ${error.message}`);
    throw error;
  }
  let target = loaded;
  for (const part of functionPath.split(".")) target = target == null ? undefined : target[part];
  if (typeof target !== "function") {
    throw new InitError("Runtime.HandlerNotFound", `${name}.${functionPath} is undefined or not exported`);
  }
  return target;
}

// --- Invocations ---------------------------------------------------------------------------------

function makeContext(invocation, finish) {
  const parse = (value) => {
    if (!value) return undefined;
    try {
      return JSON.parse(value);
    } catch (_) {
      return undefined;
    }
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: invocation.functionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: invocation.requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: parse(invocation.cognitoIdentity),
    clientContext: parse(invocation.clientContext),
    getRemainingTimeInMillis: () => Math.max(0, invocation.deadlineMs - Date.now()),
    succeed: (result) => finish(null, result),
    fail: (error) => finish(error == null ? "handled" : error),
    done: (error, result) => finish(error, result),
  };
}

// The invocation in progress, for the handlers of uncaught errors: `fail(error)` answers it with
// that error (false when it was answered already).
let inFlight = null;

// Runs one invocation: resolves to { error, result, uncaught } once the handler has answered
// (`uncaught`: an uncaught exception or rejection answered it, and the process must end).
function runHandler(handler, event, invocation) {
  return new Promise((resolve) => {
    let settled = false;
    let pending = null; // a callback's answer, waiting (by default) for the event loop to empty
    // The event loop has nothing left to do (Node's "beforeExit"; the runtime's own channel and
    // idle keep-alive socket do not hold it): the callback's answer goes now, and with no answer
    // at all the invocation answers null, as AWS's runtimes do.
    const onEmpty = () => finish(pending ? pending.error : null, pending ? pending.result : null);
    const finish = (error, result, uncaught = false) => {
      if (settled) return false;
      settled = true;
      process.removeListener("beforeExit", onEmpty);
      resolve({ error, result, uncaught });
      return true;
    };
    inFlight = { fail: (error) => finish(error, undefined, true) };
    process.on("beforeExit", onEmpty);
    const callback = (error, result) => {
      if (context.callbackWaitsForEmptyEventLoop) pending = { error, result }; // the last one counts
      else finish(error, result);
    };
    // context.succeed / fail / done answer at once; a returned value that is not a promise is
    // ignored (only a promise or the callback answers).
    const context = makeContext(invocation, (error, result) => finish(error, result));
    try {
      const returned = handler(event, context, callback);
      if (returned && typeof returned.then === "function") {
        returned.then((result) => finish(null, result), (error) => finish(error == null ? "handled" : error));
      }
    } catch (error) {
      finish(error == null ? "handled" : error);
    }
  });
}

// Where AWS's Node runtimes look for modules: layers (per major version, then shared), the SDK,
// the runtime and the function's code. Set before the handler loads, and kept for its children.
function setModulePaths(root) {
  const layers = process.env.LAMINA_LAYER_ROOT || (root === "/var/task" ? "/opt" : null);
  const major = process.versions.node.split(".")[0];
  const runtimeDir = process.env.LAMBDA_RUNTIME_DIR || __dirname;
  const library = process.env.LAMINA_RUNTIME_LIB;
  const paths = [];
  if (layers) paths.push(`${layers}/nodejs/node${major}/node_modules`, `${layers}/nodejs/node_modules`);
  paths.push(`${library || runtimeDir}/node_modules`, runtimeDir, root);
  process.env.NODE_PATH = paths.join(":");
  delete process.env.LAMINA_LAYER_ROOT; // Lamina's own, not the function's
  delete process.env.LAMINA_RUNTIME_LIB;
  Module._initPaths();
}

// An error nothing caught ends the environment: the invocation in flight (if any) fails with it,
// then the process exits, as AWS's runtime does (exit status 129; 128 for a rejection).
let exitStatus = 129;

function onUncaught(label, error, status) {
  exitStatus = status;
  logError(label, errorBody(error));
  if (inFlight === null || !inFlight.fail(error)) process.exit(status);
}

function unhandledRejection(reason) {
  const error = new Error(isError(reason) ? `${reason.name}: ${reason.message}` : String(reason));
  error.name = "Runtime.UnhandledPromiseRejection";
  return error;
}

// A standby (LAMINA_STANDBY) boots before its function is known, then waits on the channel for
// the environment it becomes: its variables replace the standby's, and its code folder becomes
// the working directory (in the namespaces tier the server has mounted it at /var/task by then).
async function becomeAssigned(api) {
  const assignment = await api.assignment();
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, assignment.env);
  process.chdir(assignment.cwd);
}

async function main() {
  patchConsole();
  const api = runtimeApi();
  if (process.env.LAMINA_STANDBY && api instanceof FramedRuntimeApi) await becomeAssigned(api);
  configureLogging();
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  setModulePaths(root);
  process.on("uncaughtException", (error) => onUncaught("Uncaught Exception", error, 129));
  process.on("unhandledRejection", (reason) => onUncaught("Unhandled Promise Rejection", unhandledRejection(reason), 128));
  let handler;
  try {
    handler = await loadHandler(root, process.env._HANDLER || "");
  } catch (error) {
    const body = errorBody(error instanceof InitError ? new Error(error.message) : error, error instanceof InitError ? error.type : undefined);
    if (error instanceof InitError) body.trace = [`${error.type}: ${error.message}`];
    logError("Uncaught Exception", body);
    await api.initError(body).catch(() => {});
    process.exit(1);
  }
  for (;;) {
    let invocation;
    try {
      invocation = await api.next();
    } catch (_) {
      process.exit(0); // the server went away
    }
    if (invocation === null) process.exit(0);
    const requestId = invocation.requestId;
    currentRequestId = requestId;
    if (invocation.traceId) process.env._X_AMZN_TRACE_ID = invocation.traceId;
    else delete process.env._X_AMZN_TRACE_ID;
    let event;
    try {
      event = JSON.parse(invocation.body.toString("utf8") || "null");
    } catch (error) {
      await api.fail(requestId, errorBody(error, "Runtime.UnmarshalError"));
      continue;
    }
    const { error, result, uncaught } = await runHandler(handler, event, invocation);
    inFlight = null;
    if (error != null) {
      const body = errorBody(error);
      if (!uncaught) logError("Invoke Error", body);
      await api.fail(requestId, body).catch(() => {});
      if (uncaught) await exitAfterFlush(api, exitStatus);
    } else {
      let payload;
      try {
        payload = JSON.stringify(result === undefined ? null : result) ?? "null"; // a function, a Symbol
      } catch (marshal) {
        await api.fail(requestId, errorBody(marshal, "Runtime.MarshalError"));
        continue;
      }
      await api.respond(requestId, payload);
    }
  }
}

// Exit once what was written to the server has left (the framed channel does not acknowledge).
async function exitAfterFlush(api, status) {
  if (api.socket) await new Promise((resolve) => api.socket.end(resolve));
  process.exit(status);
}

main();

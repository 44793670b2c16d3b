// Lamina's Node.js runtime: speaks the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) for one
// function, as AWS's Node runtimes do. Standalone: Node's standard library only.
//
// Handlers: async (a returned promise), callback style (event, context, callback), and the legacy
// context.succeed / context.fail / context.done. The first answer wins; later ones are ignored.
// console.log/info/warn/error write AWS's line format: `<ISO time>\t<request id>\t<LEVEL>\t<text>`.
"use strict";

const http = require("http");
const path = require("path");
const fs = require("fs");
const util = require("util");
const url = require("url");

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const PREFIX = "/2018-06-01/runtime";
const KEEP_ALIVE = new http.Agent({ keepAlive: true, maxSockets: 1 });
let currentRequestId = "";

function request(method, route, body, headers) {
  return new Promise((resolve, reject) => {
    const [host, port] = API.split(":");
    const all = Object.assign({}, headers || {});
    if (body !== undefined) all["Content-Length"] = Buffer.byteLength(body);
    const req = http.request(
      { host, port: Number(port), method, path: PREFIX + route, headers: all, agent: KEEP_ALIVE },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// --- Logging -------------------------------------------------------------------------------------

function patchConsole() {
  const write = (level) => (...args) => {
    const text = util.format(...args).replace(/\n/g, "\r");
    process.stdout.write(`${new Date().toISOString()}\t${currentRequestId || "undefined"}\t${level}\t${text}\n`);
  };
  console.log = write("INFO");
  console.info = write("INFO");
  console.warn = write("WARN");
  console.error = write("ERROR");
  console.debug = write("DEBUG");
  console.trace = write("TRACE");
}

// --- Errors --------------------------------------------------------------------------------------

function errorBody(error, type) {
  if (error instanceof Error) {
    return {
      errorType: type || error.name || "Error",
      errorMessage: error.message,
      trace: String(error.stack || "").split("\n"),
    };
  }
  let message;
  try {
    message = typeof error === "string" ? error : JSON.stringify(error);
  } catch (_) {
    message = String(error);
  }
  return { errorType: type || "string", errorMessage: message, trace: [] };
}

function logError(body) {
  const line = JSON.stringify(body).replace(/\n/g, "\r");
  process.stdout.write(`${new Date().toISOString()}\t${currentRequestId || "undefined"}\tERROR\t${line}\n`);
}

async function postError(route, body) {
  await request("POST", route, JSON.stringify(body), {
    "Content-Type": "application/json",
    "Lambda-Runtime-Function-Error-Type": body.errorType,
  });
}

// --- Loading the handler -------------------------------------------------------------------------

class InitError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

function moduleFile(root, modulePath) {
  for (const extension of [".js", ".mjs", ".cjs"]) {
    const candidate = path.resolve(root, modulePath + extension);
    if (fs.existsSync(candidate)) return candidate;
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

async function loadHandler(root, handlerName) {
  const dot = handlerName.lastIndexOf(".");
  if (dot <= 0) throw new InitError("Runtime.MalformedHandlerName", "Bad handler");
  const modulePath = handlerName.slice(0, dot);
  const functionPath = handlerName.slice(dot + 1);
  const file = moduleFile(root, modulePath);
  if (file === null) {
    const name = path.basename(modulePath);
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
    throw new InitError("Runtime.HandlerNotFound", `${path.basename(modulePath)}.${functionPath} is undefined or not exported`);
  }
  return target;
}

// --- Invocations ---------------------------------------------------------------------------------

function makeContext(headers, finish) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
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
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: parse(headers["lambda-runtime-cognito-identity"]),
    clientContext: parse(headers["lambda-runtime-client-context"]),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    succeed: (result) => finish(null, result),
    fail: (error) => finish(error == null ? "handled" : error),
    done: (error, result) => finish(error, result),
  };
}

function runHandler(handler, event, headers) {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (error, result) => {
      if (settled) return;
      settled = true;
      resolve({ error, result });
    };
    const context = makeContext(headers, finish);
    try {
      const returned = handler(event, context, (error, result) => finish(error, result));
      if (returned && typeof returned.then === "function") {
        returned.then((result) => finish(null, result), (error) => finish(error == null ? new Error("null") : error));
      } else if (handler.length < 3 && returned !== undefined) {
        finish(null, returned);
      }
    } catch (error) {
      finish(error);
    }
  });
}

async function main() {
  patchConsole();
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await loadHandler(root, process.env._HANDLER || "");
  } catch (error) {
    const body = errorBody(error instanceof InitError ? new Error(error.message) : error, error.type);
    if (error instanceof InitError) body.trace = [`${error.type}: ${error.message}`];
    logError(body);
    await postError("/init/error", body).catch(() => {});
    process.exit(1);
  }
  for (;;) {
    let next;
    try {
      next = await request("GET", "/invocation/next");
    } catch (_) {
      process.exit(0); // the server went away
    }
    if (next.status !== 200) process.exit(0);
    const requestId = next.headers["lambda-runtime-aws-request-id"];
    currentRequestId = requestId;
    let event;
    try {
      event = JSON.parse(next.body.toString("utf8") || "null");
    } catch (error) {
      await postError(`/invocation/${requestId}/error`, errorBody(error, "Runtime.UnmarshalError"));
      continue;
    }
    const { error, result } = await runHandler(handler, event, next.headers);
    if (error != null) {
      const body = errorBody(error);
      logError(body);
      await postError(`/invocation/${requestId}/error`, body);
    } else {
      let payload;
      try {
        payload = JSON.stringify(result === undefined ? null : result);
      } catch (marshal) {
        await postError(`/invocation/${requestId}/error`, errorBody(marshal, "Runtime.MarshalError"));
        continue;
      }
      await request("POST", `/invocation/${requestId}/response`, payload, { "Content-Type": "application/json" });
    }
  }
}

main();

// Runs an OS command and streams its output into the function's log as it comes.
const { spawn } = require("child_process");

exports.handler = (event, context, callback) => {
  const child = spawn("ls", ["-l", event.path || "."]);
  let lines = 0;
  child.stdout.on("data", (chunk) => {
    const text = chunk.toString().trimEnd();
    lines += text.split("\n").length;
    console.log(text);
  });
  child.stderr.on("data", (chunk) => console.error(chunk.toString().trimEnd()));
  child.on("close", (code) => callback(null, { exitCode: code, lines }));
};

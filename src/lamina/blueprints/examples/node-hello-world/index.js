// The oldest Lambda example: answer with context.succeed, no callback, no promise.
exports.handler = function (event, context) {
  context.succeed("Hello World");
};

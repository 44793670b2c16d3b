// Greets the user the event names: {"username": "Ada"} answers "Hello, Ada".
exports.handler = function (event, context) {
  context.succeed("Hello, " + event.username);
};

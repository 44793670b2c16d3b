// Fails on purpose: context.fail makes the invocation's result an error document.
exports.handler = function (event, context) {
  context.fail(new Error("Something went wrong: " + (event.reason || "no reason given")));
};

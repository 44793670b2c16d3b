// Logs what the context object says about this invocation and returns it.
exports.handler = async function (event, context) {
  const facts = {
    requestId: context.awsRequestId,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    functionName: context.functionName,
    remainingTimeInMillis: context.getRemainingTimeInMillis(),
  };
  console.log("request id:", facts.requestId);
  console.log("log group:", facts.logGroupName);
  console.log("log stream:", facts.logStreamName);
  console.log("function name:", facts.functionName);
  console.log("remaining time (ms):", facts.remainingTimeInMillis);
  return facts;
};

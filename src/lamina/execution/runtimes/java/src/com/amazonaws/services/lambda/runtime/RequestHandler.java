package com.amazonaws.services.lambda.runtime;

/** A handler whose event is mapped from JSON to I, and whose result O is mapped back to JSON. */
public interface RequestHandler<I, O> {
    O handleRequest(I input, Context context);
}

package com.amazonaws.services.lambda.runtime;

import java.util.Map;

/** The client context a mobile SDK passed with the invocation, when there is one. */
public interface ClientContext {
    Client getClient();

    Map<String, String> getCustom();

    Map<String, String> getEnvironment();
}

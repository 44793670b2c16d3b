package com.amazonaws.services.lambda.runtime;

/** The client application that invoked the function (part of the client context). */
public interface Client {
    String getInstallationId();

    String getAppTitle();

    String getAppVersionName();

    String getAppVersionCode();

    String getAppPackageName();
}

package com.amazonaws.services.lambda.runtime;

/** The Amazon Cognito identity that invoked the function, when there is one. */
public interface CognitoIdentity {
    String getIdentityId();

    String getIdentityPoolId();
}

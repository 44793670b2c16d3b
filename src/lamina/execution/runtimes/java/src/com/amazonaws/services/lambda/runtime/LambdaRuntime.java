package com.amazonaws.services.lambda.runtime;

import java.nio.charset.StandardCharsets;

/** The function's logger outside a handler (e.g. in static initialisers). */
public final class LambdaRuntime {
    private LambdaRuntime() {}

    private static volatile LambdaLogger logger = new LambdaLogger() {
        @Override
        public void log(String message) {
            StandardOutputLog.write(message);
        }

        @Override
        public void log(byte[] message) {
            StandardOutputLog.write(new String(message, StandardCharsets.UTF_8));
        }
    };

    public static LambdaLogger getLogger() {
        return logger;
    }

    /** One log event per call on standard output: its newlines become carriage returns. */
    static final class StandardOutputLog {
        private StandardOutputLog() {}

        static synchronized void write(String message) {
            String text = message == null ? "null" : message;
            if (text.endsWith("\n")) {
                text = text.substring(0, text.length() - 1);
            }
            System.out.print(text.replace('\n', '\r') + "\n");
            System.out.flush();
        }
    }
}

package lamina.runtime;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.LambdaRuntime;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Lamina's Java runtime: speaks the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) for one function,
 * as AWS's Java runtimes do, with handlers built against aws-lambda-java-core's interfaces.
 *
 * <p>Handlers: {@code package.Class} (its handleRequest) or {@code package.Class::method}, where the
 * method takes (event), (event, Context), (InputStream, OutputStream) or (InputStream, OutputStream,
 * Context). Events are mapped from JSON to the parameter's type with Jackson, results back to
 * JSON. The function's classes come from the task root and its lib/*.jar, then the layers'
 * java/lib/*.jar, as on AWS.
 */
public final class Bootstrap {
    private static final String PREFIX = "/2018-06-01/runtime";
    private static final ObjectMapper JSON =
            new ObjectMapper()
                    .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
                    .configure(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY, true);

    private Bootstrap() {}

    /** A failure found before any invocation, answered as AWS's Java runtime answers it. */
    static final class InitFault extends Exception {
        final Map<String, Object> body;

        InitFault(Map<String, Object> body) {
            super(String.valueOf(body.get("errorMessage")));
            this.body = body;
        }
    }

    /** Runs one invocation: the event's bytes in, the result's bytes out. */
    interface Invoker {
        byte[] invoke(byte[] event, Context context) throws Throwable;
    }

    public static void main(String[] arguments) throws Exception {
        RuntimeApi api = new RuntimeApi(System.getenv("AWS_LAMBDA_RUNTIME_API"));
        String taskRoot = envOr("LAMBDA_TASK_ROOT", System.getProperty("user.dir"));
        String handler = envOr("_HANDLER", "");
        Invoker invoker;
        try {
            ClassLoader loader = functionClassLoader(taskRoot, System.getenv("LAMINA_LAYER_ROOT"));
            Thread.currentThread().setContextClassLoader(loader);
            invoker = load(handler, loader);
        } catch (InitFault fault) {
            log(String.valueOf(fault.body.get("errorMessage")));
            api.post("/init/error", fault.body);
            System.exit(1);
            return;
        } catch (Throwable error) {
            Map<String, Object> body = errorBody(unwrap(error));
            log(stackTraceText(unwrap(error)));
            api.post("/init/error", body);
            System.exit(1);
            return;
        }
        while (true) {
            RuntimeApi.Invocation invocation = api.next();
            if (invocation == null) {
                System.exit(0);
            }
            if (invocation.traceId != null) {
                System.setProperty("com.amazonaws.xray.traceHeader", invocation.traceId);
            }
            byte[] result;
            try {
                result = invoker.invoke(invocation.body, new InvocationContext(invocation));
            } catch (Throwable error) {
                Throwable cause = unwrap(error);
                log(cause.getMessage() + ": " + cause.getClass().getName() + "\n" + stackTraceText(cause));
                api.post("/invocation/" + invocation.requestId + "/error", errorBody(cause));
                if (cause instanceof Error && !(cause instanceof StackOverflowError)) {
                    System.exit(1); // the JVM may not be usable any more (OutOfMemoryError...)
                }
                continue;
            }
            api.respond(invocation.requestId, result);
        }
    }

    private static String envOr(String name, String otherwise) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? otherwise : value;
    }

    // --- Loading the handler ---------------------------------------------------------------------

    static ClassLoader functionClassLoader(String taskRoot, String layerRoot) throws IOException {
        List<URL> urls = new ArrayList<>();
        urls.add(new File(taskRoot).toURI().toURL());
        addJars(urls, new File(taskRoot, "lib"));
        String layers = layerRoot != null ? layerRoot : ("/var/task".equals(taskRoot) ? "/opt" : null);
        if (layers != null) {
            addJars(urls, new File(layers, "java/lib"));
        }
        return new URLClassLoader(urls.toArray(new URL[0]), Bootstrap.class.getClassLoader());
    }

    private static void addJars(List<URL> urls, File folder) throws IOException {
        File[] jars = folder.listFiles((dir, name) -> name.endsWith(".jar"));
        if (jars == null) {
            return;
        }
        Arrays.sort(jars);
        for (File jar : jars) {
            urls.add(jar.toURI().toURL());
        }
    }

    static Invoker load(String handler, ClassLoader loader) throws Throwable {
        String className = handler;
        String methodName = null;
        int separator = handler.indexOf("::");
        if (separator >= 0) {
            className = handler.substring(0, separator);
            methodName = handler.substring(separator + 2);
        }
        if (className.isEmpty() || (methodName != null && methodName.isEmpty())) {
            throw new InitFault(message("Invalid handler: `" + handler + "`"));
        }
        Class<?> type;
        try {
            type = Class.forName(className, true, loader);
        } catch (ClassNotFoundException | NoClassDefFoundError error) {
            Map<String, Object> body = message("Class not found: " + className);
            body.put("errorType", "java.lang.ClassNotFoundException");
            throw new InitFault(body);
        } catch (ExceptionInInitializerError error) {
            throw error.getCause() != null ? error.getCause() : error;
        }
        if (methodName == null) {
            if (RequestStreamHandler.class.isAssignableFrom(type)) {
                RequestStreamHandler instance = (RequestStreamHandler) newInstance(type);
                return (event, context) -> stream(instance::handleRequest, event, context);
            }
            if (RequestHandler.class.isAssignableFrom(type)) {
                Method method = requestHandlerMethod(type);
                return pojo(method, newInstance(type), true, requestHandlerInput(type, new HashMap<>()));
            }
            methodName = "handleRequest";
        }
        Method method = findMethod(type, methodName);
        if (method == null) {
            throw new InitFault(
                    message(
                            "No public method named "
                                    + methodName
                                    + " with appropriate method signature found on class "
                                    + type.getName()));
        }
        Object instance = Modifier.isStatic(method.getModifiers()) ? null : newInstance(type);
        Class<?>[] parameters = method.getParameterTypes();
        if (parameters.length >= 2
                && parameters[0] == InputStream.class
                && parameters[1] == OutputStream.class) {
            boolean withContext = parameters.length == 3;
            return (event, context) ->
                    stream(
                            (input, output, ctx) -> call(method, instance, withContext ? new Object[] {input, output, ctx} : new Object[] {input, output}),
                            event,
                            context);
        }
        return pojo(method, instance, parameters.length == 2, null);
    }

    /**
     * The I of RequestHandler<I, O> as `type` binds it, through generic superclasses and interfaces
     * (class Orders extends Base<Order, Receipt>); null when it stays a type variable.
     */
    static Type requestHandlerInput(Type type, Map<TypeVariable<?>, Type> bindings) {
        Class<?> raw;
        if (type instanceof ParameterizedType) {
            ParameterizedType parameterized = (ParameterizedType) type;
            raw = (Class<?>) parameterized.getRawType();
            TypeVariable<?>[] variables = raw.getTypeParameters();
            Type[] arguments = parameterized.getActualTypeArguments();
            Map<TypeVariable<?>, Type> inner = new HashMap<>(bindings);
            for (int i = 0; i < variables.length; i++) {
                Type argument = arguments[i];
                inner.put(variables[i], argument instanceof TypeVariable ? bindings.get(argument) : argument);
            }
            if (raw == RequestHandler.class) {
                return inner.get(variables[0]);
            }
            bindings = inner;
        } else if (type instanceof Class) {
            raw = (Class<?>) type;
        } else {
            return null;
        }
        List<Type> parents = new ArrayList<>(Arrays.asList(raw.getGenericInterfaces()));
        if (raw.getGenericSuperclass() != null) {
            parents.add(raw.getGenericSuperclass());
        }
        for (Type parent : parents) {
            Type found = requestHandlerInput(parent, bindings);
            if (found != null) {
                return found;
            }
        }
        return null;
    }

    /** The handleRequest that RequestHandler<I, O> declares, with I and O as the class has them. */
    private static Method requestHandlerMethod(Class<?> type) throws InitFault {
        Method found = null;
        for (Method method : type.getMethods()) {
            if (method.getName().equals("handleRequest")
                    && method.getParameterCount() == 2
                    && method.getParameterTypes()[1] == Context.class
                    && (found == null || found.isBridge())) {
                found = method;
            }
        }
        if (found == null) {
            throw new InitFault(message("No public method named handleRequest with appropriate method signature found on class " + type.getName()));
        }
        return found;
    }

    /** The public method to call: the most specific of those AWS accepts, or null. */
    private static Method findMethod(Class<?> type, String name) {
        Method best = null;
        int bestScore = -1;
        for (Method method : type.getMethods()) {
            if (!method.getName().equals(name) || method.isBridge()) {
                continue;
            }
            Class<?>[] parameters = method.getParameterTypes();
            int score;
            if (parameters.length == 3 && parameters[0] == InputStream.class && parameters[1] == OutputStream.class && parameters[2] == Context.class) {
                score = 5;
            } else if (parameters.length == 2 && parameters[0] == InputStream.class && parameters[1] == OutputStream.class) {
                score = 4;
            } else if (parameters.length == 2 && parameters[1] == Context.class) {
                score = 3;
            } else if (parameters.length == 1) {
                score = 2;
            } else if (parameters.length == 0) {
                score = 1;
            } else {
                continue;
            }
            if (score > bestScore) {
                best = method;
                bestScore = score;
            }
        }
        return best;
    }

    private static Object newInstance(Class<?> type) throws Throwable {
        try {
            return type.getConstructor().newInstance();
        } catch (InvocationTargetException error) {
            throw error.getCause();
        }
    }

    private static Object call(Method method, Object instance, Object[] arguments) throws Throwable {
        try {
            return method.invoke(instance, arguments);
        } catch (InvocationTargetException error) {
            throw error.getCause();
        }
    }

    interface StreamCall {
        void handle(InputStream input, OutputStream output, Context context) throws Throwable;
    }

    private static byte[] stream(StreamCall call, byte[] event, Context context) throws Throwable {
        ByteArrayOutputStream output = new ByteArrayOutputStream();
        call.handle(new ByteArrayInputStream(event), output, context);
        return output.toByteArray();
    }

    /** A handler whose event and result are JSON mapped to and from the method's own types. */
    private static Invoker pojo(Method method, Object instance, boolean withContext, Type declared) {
        Type[] parameters = method.getGenericParameterTypes();
        Type inputType = declared != null ? declared : parameters.length == 0 ? null : parameters[0];
        JavaType input = inputType == null ? null : JSON.getTypeFactory().constructType(inputType);
        boolean returnsNothing = method.getReturnType() == void.class;
        method.setAccessible(true);
        return (event, context) -> {
            Object[] arguments;
            if (input == null) {
                arguments = new Object[0];
            } else {
                Object value = event.length == 0 ? null : JSON.readValue(event, input);
                arguments = withContext ? new Object[] {value, context} : new Object[] {value};
            }
            Object result = call(method, instance, arguments);
            return returnsNothing ? "null".getBytes(StandardCharsets.UTF_8) : JSON.writeValueAsBytes(result);
        };
    }

    // --- Errors ----------------------------------------------------------------------------------

    private static Throwable unwrap(Throwable error) {
        if (error instanceof InvocationTargetException && error.getCause() != null) {
            return error.getCause();
        }
        if (error instanceof ExceptionInInitializerError && error.getCause() != null) {
            return error.getCause();
        }
        return error;
    }

    private static Map<String, Object> message(String text) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("errorMessage", text);
        return body;
    }

    /** AWS's Java error document: message, the exception's class, its frames, and its cause. */
    static Map<String, Object> errorBody(Throwable error) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("errorMessage", error.getMessage());
        body.put("errorType", error.getClass().getName());
        List<String> frames = new ArrayList<>();
        for (StackTraceElement frame : error.getStackTrace()) {
            if (frame.getClassName().startsWith("lamina.runtime.")
                    || frame.getClassName().startsWith("java.lang.reflect.")
                    || frame.getClassName().startsWith("jdk.internal.reflect.")) {
                break; // the runtime's own frames are not the function's
            }
            frames.add(frame.toString());
        }
        body.put("stackTrace", frames);
        if (error.getCause() != null && error.getCause() != error) {
            body.put("cause", errorBody(error.getCause()));
        }
        return body;
    }

    private static String stackTraceText(Throwable error) {
        StringWriter text = new StringWriter();
        error.printStackTrace(new PrintWriter(text));
        return text.toString();
    }

    private static void log(String message) {
        LambdaRuntime.getLogger().log(message);
    }

    // --- The context -----------------------------------------------------------------------------

    static final class InvocationContext implements Context {
        private final RuntimeApi.Invocation invocation;

        InvocationContext(RuntimeApi.Invocation invocation) {
            this.invocation = invocation;
        }

        @Override
        public String getAwsRequestId() {
            return invocation.requestId;
        }

        @Override
        public String getLogGroupName() {
            return System.getenv("AWS_LAMBDA_LOG_GROUP_NAME");
        }

        @Override
        public String getLogStreamName() {
            return System.getenv("AWS_LAMBDA_LOG_STREAM_NAME");
        }

        @Override
        public String getFunctionName() {
            return System.getenv("AWS_LAMBDA_FUNCTION_NAME");
        }

        @Override
        public String getFunctionVersion() {
            return System.getenv("AWS_LAMBDA_FUNCTION_VERSION");
        }

        @Override
        public String getInvokedFunctionArn() {
            return invocation.functionArn;
        }

        @Override
        public CognitoIdentity getIdentity() {
            JsonNode identity = parse(invocation.cognitoIdentity);
            if (identity == null) {
                return null;
            }
            String id = identity.path("cognitoIdentityId").asText(null);
            String pool = identity.path("cognitoIdentityPoolId").asText(null);
            return new CognitoIdentity() {
                @Override
                public String getIdentityId() {
                    return id;
                }

                @Override
                public String getIdentityPoolId() {
                    return pool;
                }
            };
        }

        @Override
        public ClientContext getClientContext() {
            JsonNode context = parse(invocation.clientContext);
            if (context == null) {
                return null;
            }
            JsonNode client = context.path("client");
            Map<String, String> custom = strings(context.path("custom"));
            Map<String, String> environment = strings(context.path("env"));
            return new ClientContext() {
                @Override
                public Client getClient() {
                    return new Client() {
                        @Override
                        public String getInstallationId() {
                            return client.path("installation_id").asText(null);
                        }

                        @Override
                        public String getAppTitle() {
                            return client.path("app_title").asText(null);
                        }

                        @Override
                        public String getAppVersionName() {
                            return client.path("app_version_name").asText(null);
                        }

                        @Override
                        public String getAppVersionCode() {
                            return client.path("app_version_code").asText(null);
                        }

                        @Override
                        public String getAppPackageName() {
                            return client.path("app_package_name").asText(null);
                        }
                    };
                }

                @Override
                public Map<String, String> getCustom() {
                    return custom;
                }

                @Override
                public Map<String, String> getEnvironment() {
                    return environment;
                }
            };
        }

        @Override
        public int getRemainingTimeInMillis() {
            return (int) Math.max(0, invocation.deadlineMs - System.currentTimeMillis());
        }

        @Override
        public int getMemoryLimitInMB() {
            return Integer.parseInt(envOr("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"));
        }

        @Override
        public LambdaLogger getLogger() {
            return LambdaRuntime.getLogger();
        }

        private static JsonNode parse(String text) {
            if (text == null || text.isEmpty()) {
                return null;
            }
            try {
                return JSON.readTree(text);
            } catch (IOException error) {
                return null;
            }
        }

        private static Map<String, String> strings(JsonNode node) {
            Map<String, String> values = new LinkedHashMap<>();
            node.fields().forEachRemaining(entry -> values.put(entry.getKey(), entry.getValue().asText()));
            return values;
        }
    }

    // --- The Runtime API -------------------------------------------------------------------------

    static final class RuntimeApi {
        private final String base;

        static final class Invocation {
            String requestId;
            long deadlineMs;
            String functionArn;
            String traceId;
            String clientContext;
            String cognitoIdentity;
            byte[] body;
        }

        RuntimeApi(String address) {
            this.base = "http://" + address + PREFIX;
        }

        Invocation next() {
            try {
                HttpURLConnection connection = open("/invocation/next", "GET");
                connection.setReadTimeout(0);
                if (connection.getResponseCode() != 200) {
                    return null;
                }
                Invocation invocation = new Invocation();
                invocation.requestId = connection.getHeaderField("Lambda-Runtime-Aws-Request-Id");
                String deadline = connection.getHeaderField("Lambda-Runtime-Deadline-Ms");
                invocation.deadlineMs = deadline == null ? 0 : Long.parseLong(deadline);
                invocation.functionArn = connection.getHeaderField("Lambda-Runtime-Invoked-Function-Arn");
                invocation.traceId = connection.getHeaderField("Lambda-Runtime-Trace-Id");
                invocation.clientContext = connection.getHeaderField("Lambda-Runtime-Client-Context");
                invocation.cognitoIdentity = connection.getHeaderField("Lambda-Runtime-Cognito-Identity");
                try (InputStream input = connection.getInputStream()) {
                    invocation.body = input.readAllBytes();
                }
                return invocation;
            } catch (IOException error) {
                return null; // the server went away
            }
        }

        void respond(String requestId, byte[] body) {
            send("/invocation/" + requestId + "/response", body, null);
        }

        void post(String route, Map<String, Object> error) {
            Object type = error.get("errorType");
            byte[] body;
            try {
                body = JSON.writeValueAsBytes(error);
            } catch (IOException failure) {
                body = "{\"errorMessage\":\"the error could not be written as JSON\"}".getBytes(StandardCharsets.UTF_8);
            }
            send(route, body, type == null ? "Runtime.Unknown" : type.toString());
        }

        private void send(String route, byte[] body, String errorType) {
            try {
                HttpURLConnection connection = open(route, "POST");
                connection.setDoOutput(true);
                connection.setFixedLengthStreamingMode(body.length);
                connection.setRequestProperty("Content-Type", "application/json");
                if (errorType != null) {
                    connection.setRequestProperty("Lambda-Runtime-Function-Error-Type", errorType);
                }
                try (OutputStream output = connection.getOutputStream()) {
                    output.write(body);
                }
                try (InputStream input = connection.getInputStream()) {
                    input.readAllBytes();
                } catch (IOException refused) {
                    InputStream errors = connection.getErrorStream();
                    if (errors != null) {
                        errors.readAllBytes();
                        errors.close();
                    }
                }
            } catch (IOException error) {
                System.exit(0); // the server went away
            }
        }

        private HttpURLConnection open(String route, String method) throws IOException {
            HttpURLConnection connection = (HttpURLConnection) new URL(base + route).openConnection();
            connection.setRequestMethod(method);
            connection.setUseCaches(false);
            return connection;
        }
    }
}

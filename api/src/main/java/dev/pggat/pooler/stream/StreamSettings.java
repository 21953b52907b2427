package dev.pggat.pooler.stream;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Where and how a pooler subscribes to the operator's endpoint stream.
 *
 * @param url the stream of one PgPool, {@code http(s)://host:port/v1/namespaces/NS/pgpools/NAME/stream}
 * @param token the bearer token itself, or null when {@code tokenFile} holds it
 * @param tokenFile a file holding the token, read again before every connection so that a rotated Secret or a
 *     projected ServiceAccount token is picked up; or null
 * @param podName this pooler's pod name: how it finds its own instance id among the peers; may be null
 * @param connectTimeout for the TCP connection and the response headers
 * @param heartbeatTimeout a connection silent for this long is given up and opened again
 * @param backoffInitial the first delay before reconnecting; it doubles per failed attempt
 * @param backoffMax the longest delay between attempts
 */
public record StreamSettings(
        URI url,
        String token,
        Path tokenFile,
        String podName,
        Duration connectTimeout,
        Duration heartbeatTimeout,
        Duration backoffInitial,
        Duration backoffMax) {
    public static final String ENV_URL = "PGGAT_STREAM_URL";
    public static final String ENV_TOKEN = "PGGAT_STREAM_TOKEN";
    public static final String ENV_TOKEN_FILE = "PGGAT_STREAM_TOKEN_FILE";
    public static final String ENV_POD_NAME = "POD_NAME";

    /**
     * Where the operator mounts a projected ServiceAccount token for the stream's audience; the token file when the
     * environment names neither a file nor a token.
     */
    public static final String DEFAULT_SERVICE_ACCOUNT_TOKEN_DIR = "/var/run/secrets/pggat.dev/serviceaccount";

    public static final String DEFAULT_TOKEN_FILE = DEFAULT_SERVICE_ACCOUNT_TOKEN_DIR + "/token";

    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    /** Three missed heartbeats of the operator's default 5 s. */
    public static final Duration DEFAULT_HEARTBEAT_TIMEOUT = Duration.ofSeconds(15);

    public static final Duration DEFAULT_BACKOFF_INITIAL = Duration.ofMillis(250);
    public static final Duration DEFAULT_BACKOFF_MAX = Duration.ofSeconds(30);

    public StreamSettings {
        Objects.requireNonNull(url, "url");
        String scheme = url.getScheme();
        if (!"http".equals(scheme) && !"https".equals(scheme)) {
            throw new IllegalArgumentException(
                    "endpoint stream url " + url + " is not accepted; an http:// or https:// URL is required");
        }
        if (url.getHost() == null) {
            throw new IllegalArgumentException("endpoint stream url " + url + " has no host");
        }
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(heartbeatTimeout, "heartbeatTimeout");
        Objects.requireNonNull(backoffInitial, "backoffInitial");
        Objects.requireNonNull(backoffMax, "backoffMax");
        if (backoffInitial.isNegative() || backoffInitial.isZero() || backoffMax.compareTo(backoffInitial) < 0) {
            throw new IllegalArgumentException("endpoint stream backoff: initial " + backoffInitial + " and max "
                    + backoffMax + " are not accepted; 0 < initial <= max is required");
        }
        if (heartbeatTimeout.isNegative() || heartbeatTimeout.isZero()) {
            throw new IllegalArgumentException(
                    "endpoint stream heartbeat timeout " + heartbeatTimeout + " is not accepted; it must be positive");
        }
    }

    /** Defaults for everything but where to connect and how to authenticate. */
    public static StreamSettings of(URI url, String token, Path tokenFile, String podName) {
        return new StreamSettings(
                url,
                token,
                tokenFile,
                podName,
                DEFAULT_CONNECT_TIMEOUT,
                DEFAULT_HEARTBEAT_TIMEOUT,
                DEFAULT_BACKOFF_INITIAL,
                DEFAULT_BACKOFF_MAX);
    }

    /**
     * What the operator puts in a pooler pod's environment: {@value #ENV_URL} (no stream when unset or empty),
     * {@value #ENV_TOKEN_FILE} or {@value #ENV_TOKEN} (neither: the projected ServiceAccount token in
     * {@value #DEFAULT_TOKEN_FILE}), and {@value #ENV_POD_NAME} (else {@code HOSTNAME}, which is
     * the pod name in Kubernetes).
     *
     * @throws IllegalArgumentException naming the variable, its value (never a token's) and what is accepted
     */
    public static Optional<StreamSettings> fromEnvironment(Map<String, String> env) {
        String url = env.get(ENV_URL);
        if (url == null || url.isBlank()) {
            return Optional.empty();
        }
        URI uri;
        try {
            uri = new URI(url.trim());
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(
                    ENV_URL + " \"" + url + "\" is not a URL; expected http(s)://host:port/v1/namespaces/...");
        }
        String tokenFile = env.get(ENV_TOKEN_FILE);
        String token = env.get(ENV_TOKEN);
        if ((tokenFile == null || tokenFile.isBlank()) && (token == null || token.isBlank())) {
            tokenFile = DEFAULT_TOKEN_FILE;
        }
        String pod = env.get(ENV_POD_NAME);
        if (pod == null || pod.isBlank()) {
            pod = env.get("HOSTNAME");
        }
        try {
            return Optional.of(of(
                    uri,
                    token == null || token.isBlank() ? null : token.trim(),
                    tokenFile == null || tokenFile.isBlank() ? null : Path.of(tokenFile.trim()),
                    pod == null || pod.isBlank() ? null : pod.trim()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(ENV_URL + ": " + e.getMessage(), e);
        }
    }

    public StreamSettings withTimeouts(Duration connect, Duration heartbeat, Duration initial, Duration max) {
        return new StreamSettings(url, token, tokenFile, podName, connect, heartbeat, initial, max);
    }

    /** The token to send now: the file's content when there is a file, else the fixed token. */
    String currentToken() throws IOException {
        if (tokenFile != null) {
            return Files.readString(tokenFile, StandardCharsets.UTF_8).trim();
        }
        return token;
    }

    /** Never prints the token. */
    @Override
    public String toString() {
        return "StreamSettings[url=" + url + ", token=" + (token == null ? "none" : "(set)") + ", tokenFile="
                + tokenFile + ", podName=" + podName + "]";
    }
}

package dev.pggat.operator;

import static dev.pggat.operator.MockApi.NS;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pggat.crds.v1alpha1.ClusterRef;
import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.EndpointRole;
import dev.pggat.crds.v1alpha1.PgPool;
import dev.pggat.crds.v1alpha1.PgPoolSpec;
import dev.pggat.crds.v1alpha1.SecretKeyRef;
import dev.pggat.crds.v1alpha1.StaticCluster;
import dev.pggat.crds.v1alpha1.StaticEndpoint;
import dev.pggat.crds.v1alpha1.UserSpec;
import dev.pggat.operator.model.Credentials;
import dev.pggat.operator.model.PoolerConfig;
import dev.pggat.operator.model.PoolerResources;
import dev.pggat.operator.model.Topologies;
import dev.pggat.operator.stream.EndpointStreamServer;
import dev.pggat.operator.stream.StreamAuth;
import dev.pggat.operator.stream.StreamTokens;
import dev.pggat.operator.stream.TokenReviews;
import dev.pggat.pooler.stream.StreamProtocol;
import dev.pggat.pooler.stream.StreamSettings;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The endpoint stream's TokenReview authentication, with the API server's answers played by expectations on the
 * mock: a service account of the PgPool's namespace is served, an unauthenticated token is refused with 401, a
 * service account of another namespace with 403; answers are remembered; per-PgPool tokens still work.
 */
class StreamTokenReviewTest {
    private static final String POOL = "orders";
    // Shaped like the API server's tokens (three base64url parts); only those are sent for review.
    private static final String SHOP_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzaG9wIn0.c2hvcA";
    private static final String OTHER_NS_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvdGhlciJ9.b3RoZXI";
    private static final String EXPIRED_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvbGQifQ.b2xk";
    private static final String API_AUDIENCE_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcGkifQ.YXBp";

    private static final ObjectMapper JSON = new ObjectMapper();

    private MockApi api;
    private EndpointStreamServer stream;
    private final AtomicInteger reviews = new AtomicInteger();
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @AfterEach
    void stop() {
        if (stream != null) {
            stream.close();
        }
        if (api != null) {
            api.close();
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void acceptsServiceAccountsOfThePgPoolsNamespaceOnly() throws Exception {
        api = new MockApi();
        playTokenReviews();
        api.create(staticPool());
        stream = EndpointStreamServer.start(
                api.client,
                Set.of(),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                Duration.ofMillis(300),
                EndpointStreamServer.DEFAULT_MAX_SUBSCRIBERS,
                Clock.systemUTC(),
                new TokenReviews(api.client));
        MockApi.await("the PgPool's stream", Duration.ofSeconds(20), () -> stream.hub().stream(NS + "/" + POOL));

        assertThat(firstLine(POOL, SHOP_TOKEN))
                .as("service account shop/orders-pooler")
                .startsWith("{\"type\":\"snapshot\"");
        assertThat(firstLine(POOL, SHOP_TOKEN)).startsWith("{\"type\":\"snapshot\"");
        assertThat(reviews.get())
                .as("the second connection is answered from the cache")
                .isEqualTo(1);

        assertThat(status(POOL, EXPIRED_TOKEN)).as("not authenticated").isEqualTo(401);
        assertThat(status(POOL, API_AUDIENCE_TOKEN))
                .as("authenticated for another audience only")
                .isEqualTo(401);
        HttpResponse<String> other = get(POOL, OTHER_NS_TOKEN);
        assertThat(other.statusCode()).as("service account of namespace other").isEqualTo(403);
        assertThat(other.body()).contains("other/app").doesNotContain(OTHER_NS_TOKEN);
        assertThat(status("no-such-pool", SHOP_TOKEN))
                .as("an unknown PgPool answers like a wrong token")
                .isEqualTo(401);

        // The per-PgPool token stays the other way in, and is never sent for review.
        api.client
                .resource(PoolerResources.streamTokenSecret(api.get(POOL), "plain-token"))
                .create();
        int before = reviews.get();
        assertThat(firstLine(POOL, "plain-token")).startsWith("{\"type\":\"snapshot\"");
        assertThat(status(POOL, "wrong-plain-token")).isEqualTo(401);
        assertThat(reviews.get()).isEqualTo(before);
    }

    @Test
    void serviceAccountPodsMountAProjectedTokenForTheStreamAudienceAndNoSecret() {
        PgPool pool = staticPool();
        pool.getMetadata().setNamespace(NS);
        pool.getMetadata().setUid("uid-1");
        PoolerConfig config = PoolerConfig.render(
                pool.getSpec(),
                Topologies.ofStatic(pool.getSpec().cluster.staticCluster),
                Credentials.ofSpec(pool.getSpec().databases));
        PodSpec spec = PoolerResources.deployment(
                        pool,
                        config,
                        "img",
                        "http://op:8090" + StreamProtocol.path(NS, POOL),
                        StreamAuth.SERVICE_ACCOUNT)
                .getSpec()
                .getTemplate()
                .getSpec();
        Volume token = spec.getVolumes().stream()
                .filter(v -> v.getName().equals("stream-token"))
                .findFirst()
                .orElseThrow();
        assertThat(token.getSecret()).as("no long-lived Secret").isNull();
        var projected = token.getProjected().getSources().get(0).getServiceAccountToken();
        assertThat(projected.getAudience()).isEqualTo(TokenReviews.AUDIENCE);
        assertThat(projected.getExpirationSeconds()).isEqualTo(3600L);
        Map<String, String> env = spec.getContainers().get(0).getEnv().stream()
                .filter(e -> e.getValue() != null)
                .collect(java.util.stream.Collectors.toMap(EnvVar::getName, EnvVar::getValue));
        assertThat(env.get(StreamSettings.ENV_TOKEN_FILE)).isEqualTo(StreamSettings.DEFAULT_TOKEN_FILE);
        assertThat(spec.getContainers().get(0).getVolumeMounts())
                .anyMatch(m -> m.getName().equals("stream-token")
                        && (m.getMountPath() + "/" + StreamTokens.KEY).equals(StreamSettings.DEFAULT_TOKEN_FILE));
    }

    /** The API server's side of TokenReview, by token. */
    private void playTokenReviews() {
        api.server
                .expect()
                .post()
                .withPath("/apis/authentication.k8s.io/v1/tokenreviews")
                .andReply(201, request -> {
                    reviews.incrementAndGet();
                    JsonNode body;
                    try {
                        body = JSON.readTree(request.getUtf8Body());
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    String token = body.path("spec").path("token").asText();
                    List<String> audiences = new java.util.ArrayList<>();
                    body.path("spec").path("audiences").forEach(a -> audiences.add(a.asText()));
                    var answer = new TokenReviewBuilder().withNewStatus();
                    if (!audiences.contains(TokenReviews.AUDIENCE)) {
                        answer.withAuthenticated(false).withError("the operator asked for no stream audience");
                    } else if (SHOP_TOKEN.equals(token)) {
                        answer.withAuthenticated(true)
                                .withAudiences(TokenReviews.AUDIENCE)
                                .withNewUser()
                                .withUsername("system:serviceaccount:shop:orders-pooler")
                                .endUser();
                    } else if (OTHER_NS_TOKEN.equals(token)) {
                        answer.withAuthenticated(true)
                                .withAudiences(TokenReviews.AUDIENCE)
                                .withNewUser()
                                .withUsername("system:serviceaccount:other:app")
                                .endUser();
                    } else if (API_AUDIENCE_TOKEN.equals(token)) {
                        answer.withAuthenticated(true)
                                .withAudiences("https://kubernetes.default.svc")
                                .withNewUser()
                                .withUsername("system:serviceaccount:shop:orders-pooler")
                                .endUser();
                    } else {
                        answer.withAuthenticated(false).withError("token has expired");
                    }
                    return answer.endStatus().build();
                })
                .always();
    }

    private HttpRequest request(String pool, String token) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + stream.port() + StreamProtocol.path(NS, pool)))
                .header("Authorization", "Bearer " + token)
                .timeout(Duration.ofSeconds(10))
                .GET()
                .build();
    }

    private HttpResponse<String> get(String pool, String token) throws Exception {
        return http.send(request(pool, token), HttpResponse.BodyHandlers.ofString());
    }

    private int status(String pool, String token) throws Exception {
        return get(pool, token).statusCode();
    }

    /** The first line of a stream that never ends on its own. */
    private String firstLine(String pool, String token) throws Exception {
        HttpResponse<InputStream> r = http.send(request(pool, token), HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        try (InputStream in = r.body();
                BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            return lines.readLine();
        }
    }

    private static PgPool staticPool() {
        PgPool pool = new PgPool();
        pool.setMetadata(new ObjectMetaBuilder().withName(POOL).build());
        PgPoolSpec spec = new PgPoolSpec();
        spec.cluster = new ClusterRef();
        spec.cluster.staticCluster = new StaticCluster();
        spec.cluster.staticCluster.endpoints.add(new StaticEndpoint("10.0.0.1", 5432, EndpointRole.PRIMARY));
        spec.databases = List.of(
                new DatabaseSpec("shop", List.of(new UserSpec("alice", new SecretKeyRef("shop-users", "alice")))));
        pool.setSpec(spec);
        return pool;
    }
}

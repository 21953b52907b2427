package dev.pggat.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.client.http.HttpClient;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class MainTest {
    @Test
    void versionNamesTheCommandAndTheBuildVersion() {
        StringWriter out = new StringWriter();
        int code = new CommandLine(new Main()).setOut(new PrintWriter(out)).execute("--version");
        assertThat(code).isZero();
        assertThat(out.toString().trim()).isEqualTo("pggat-operator " + PggatOperator.version());
        assertThat(PggatOperator.version()).doesNotContain("${").isNotEqualTo("latest");
        assertThat(PggatOperator.defaultImage()).isEqualTo("ghcr.io/pggat/pggat:" + PggatOperator.version());
    }

    @Test
    void recheckIntervalAcceptsPoolerDurationsAndRejectsOthersNamingTheOption() {
        Main.DurationConverter converter = new Main.DurationConverter();
        assertThat(converter.convert("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(converter.convert("5m")).isEqualTo(Duration.ofMinutes(5));
        assertThat(converter.convert("PT30S")).isEqualTo(Duration.ofSeconds(30));
        for (String option : new String[] {"--recheck-interval", "--stream-heartbeat"}) {
            assertThatThrownBy(() -> new CommandLine(new Main()).parseArgs(option, "10 minutes"))
                    .hasMessageContaining(option)
                    .hasMessageContaining("10 minutes")
                    .hasMessageContaining("30s");
        }
    }

    @Test
    void streamUrlDefaultsToTheOperatorServiceAndDropsATrailingSlash() {
        Main main = new Main();
        new CommandLine(main).parseArgs("--stream-url", "http://op.example.svc:8090/");
        assertThat(main.streamBaseUrl()).isEqualTo("http://op.example.svc:8090");
        Main defaults = new Main();
        new CommandLine(defaults).parseArgs();
        assertThat(defaults.streamPort).isEqualTo(8090);
        assertThat(defaults.streamHeartbeat).isEqualTo(Duration.ofSeconds(5));
    }

    @Test
    void theLeaseLivesInTheOperatorNamespaceNotTheKubeconfigs() {
        Main main = new Main();
        new CommandLine(main).parseArgs("--operator-namespace", "ops");
        try (var client = new io.fabric8.kubernetes.client.KubernetesClientBuilder()
                .withConfig(new io.fabric8.kubernetes.client.ConfigBuilder(io.fabric8.kubernetes.client.Config.empty())
                        .withMasterUrl("https://127.0.0.1:1")
                        .withNamespace("default")
                        .build())
                .build()) {
            assertThat(main.leaseNamespace(client)).isEqualTo("ops");
        }
    }

    @Test
    void logLinesCarryATimestamp() throws Exception {
        var props = new java.util.Properties();
        try (var in = Main.class.getResourceAsStream("/simplelogger.properties")) {
            assertThat(in).as("simplelogger.properties on the classpath").isNotNull();
            props.load(in);
        }
        assertThat(props.getProperty("org.slf4j.simpleLogger.showDateTime")).isEqualTo("true");
        assertThat(props.getProperty("org.slf4j.simpleLogger.dateTimeFormat")).contains("HH:mm:ss");
    }

    @Test
    void onlyTheJdkHttpClientIsOnTheClasspathSoFabric8ChoosesDeterministically() {
        var factories = ServiceLoader.load(HttpClient.Factory.class).stream()
                .map(p -> p.type().getName())
                .toList();
        assertThat(factories).containsExactly("io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory");
    }
}

package dev.pggat.pooler.cli;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.demo.PostgresCluster;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code pggat demo}: a PostgreSQL primary with a streaming replica, started from the system's binaries or the
 * embedded ones, and the pooler in front of them. Runs until interrupted, then stops everything it started.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description = "Start an embedded PostgreSQL primary and replica with pggat in front, and print how to connect.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--port", defaultValue = "6432", description = "Port pggat listens on (default ${DEFAULT-VALUE})")
    int port;

    @Option(
            names = "--admin-port",
            defaultValue = "9930",
            description = "Port of the admin endpoint (default ${DEFAULT-VALUE})")
    int adminPort;

    @Option(
            names = "--mode",
            defaultValue = "transaction",
            description = "Pool mode: transaction or session (default ${DEFAULT-VALUE})")
    String mode;

    @Option(
            names = "--replicas",
            defaultValue = "1",
            description = "Streaming replicas to start (default ${DEFAULT-VALUE})")
    int replicas;

    @Override
    public Integer call() throws Exception {
        System.out.println("pggat demo: starting PostgreSQL (primary + " + replicas + " replica(s))...");
        PostgresCluster cluster = PostgresCluster.builder()
                .replicas(replicas)
                .fastButUnsafe(true)
                .bootstrapSql(
                        "SET password_encryption = 'scram-sha-256'",
                        "CREATE ROLE demo LOGIN PASSWORD 'demo'",
                        "CREATE DATABASE demo OWNER demo")
                .start();
        PoolerConfig config;
        try {
            config = ConfigLoader.parse(yaml(cluster), "demo configuration", Map.of());
        } catch (Exception e) {
            cluster.close();
            throw e;
        }
        Pooler pooler;
        try {
            pooler = new Pooler(config).start();
        } catch (Exception e) {
            cluster.close();
            throw e;
        }
        String uri = "postgresql://demo:demo@127.0.0.1:" + port + "/demo";
        System.out.println();
        System.out.println("PostgreSQL " + cluster.binaries().version() + " ("
                + (cluster.binaries().embedded() ? "embedded binaries" : "system binaries") + ")");
        System.out.println("  primary  127.0.0.1:" + cluster.primary().port());
        cluster.replicas().forEach(r -> System.out.println("  replica  127.0.0.1:" + r.port()));
        System.out.println("pggat (" + mode + " mode) on 127.0.0.1:" + port + ", admin http://127.0.0.1:" + adminPort);
        System.out.println();
        System.out.println("Connect:  " + uri);
        System.out.println("  psql \"" + uri + "\"");
        System.out.println("  pgbench -i \"" + uri + "\" && pgbench -S -c 10 -T 10 \"" + uri + "\"");
        System.out.println("  curl http://127.0.0.1:" + adminPort + "/metrics");
        System.out.println("Press Ctrl-C to stop.");
        Runtime.getRuntime().addShutdownHook(new Thread(cluster::close, "pggat-demo-postgres"));
        PoolerCommand.runUntilSignal(pooler, config.timeouts().shutdown());
        return 0;
    }

    private String yaml(PostgresCluster cluster) {
        StringBuilder endpoints = new StringBuilder();
        endpoints
                .append("      - host: 127.0.0.1\n        port: ")
                .append(cluster.primary().port())
                .append("\n        role: primary\n");
        for (PostgresCluster.Node r : cluster.replicas()) {
            endpoints
                    .append("      - host: 127.0.0.1\n        port: ")
                    .append(r.port())
                    .append("\n        role: replica\n");
        }
        return "listen:\n  host: 127.0.0.1\n  port: " + port + "\n"
                + "admin:\n  host: 127.0.0.1\n  port: " + adminPort + "\n"
                + "timeouts:\n  shutdown: 5s\n"
                + "pools:\n  mode: " + mode + "\n  maxServerConnections: 20\n"
                + "databases:\n  demo:\n    endpoints:\n" + endpoints
                + "    users:\n      demo:\n        password: demo\n        auth: scram-sha-256\n";
    }
}

package dev.pggat.pooler.cli;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigException;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.config.ReferencedFiles;
import dev.pggat.pooler.security.Security;
import dev.pggat.pooler.stream.EndpointStreamClient;
import dev.pggat.pooler.stream.EnvelopeApplier;
import dev.pggat.pooler.stream.StreamSettings;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code pggat pooler --config FILE}: runs the pooler until SIGTERM/SIGINT, then drains. */
@Command(name = "pooler", mixinStandardHelpOptions = true, description = "Run the pooler from a YAML configuration.")
final class PoolerCommand implements Callable<Integer> {
    @Option(
            names = {"-c", "--config"},
            required = true,
            paramLabel = "FILE",
            description = "YAML configuration file")
    Path config;

    @Option(
            names = "--check",
            description = "Validate the configuration and load the certificates, keys and credential files it names,"
                    + " without opening any socket; exit 0 when valid, 2 when not")
    boolean check;

    /** Where messages go; fields so that tests can read them. */
    PrintStream out = System.out;

    PrintStream err = System.err;
    Map<String, String> env = System.getenv();

    @Override
    public Integer call() throws Exception {
        PoolerConfig cfg;
        try {
            cfg = ConfigLoader.load(config, env);
            // The YAML only says where certificates and credential files are; a wrong one must not pass --check
            // and then fail the real start.
            ReferencedFiles.checkPresent(config.toString(), cfg);
            if (check) {
                loadReferencedFiles(cfg);
            }
        } catch (ConfigException e) {
            return invalid(e);
        }
        if (check) {
            out.println(config + ": configuration is valid");
            return 0;
        }
        Pooler pooler;
        try {
            pooler = new Pooler(cfg);
        } catch (UncheckedIOException e) {
            // Pooler wraps what Security.start reports about a certificate, key or credential file.
            String why = e.getCause() != null ? e.getCause().getMessage() : e.getMessage();
            return invalid(ReferencedFiles.explain(config.toString(), cfg, why));
        }
        // Under the operator: endpoint sets (failovers) and cancel peers arrive over its stream. The applier must
        // exist before the first client gets a cancel key, so it is set up before the listener starts.
        Optional<StreamSettings> stream = StreamSettings.fromEnvironment(env);
        EndpointStreamClient streamClient = null;
        if (stream.isPresent()) {
            EnvelopeApplier applier = new EnvelopeApplier(
                    () -> cfg.databases().keySet(),
                    pooler::applyEndpointSet,
                    pooler.cancelRegistry(),
                    stream.get().podName());
            streamClient = new EndpointStreamClient(stream.get(), applier).start();
        }
        try {
            pooler.start();
        } catch (IOException e) {
            // A port in use or an address not on this host: the message says which; a stack trace would not help.
            err.println("pggat: cannot start: " + e.getMessage());
            if (streamClient != null) {
                streamClient.close();
            }
            pooler.close();
            return 1;
        }
        // A changed file (or a SIGHUP) applies live; only listen and admin need a restart.
        ConfigReloader reloader = new ConfigReloader(config, env, pooler, cfg).start(2);
        // The console's RELOAD reads the file now; its SHUTDOWN stops the pooler as SIGTERM does (the hook drains).
        pooler.consoleActions(
                () -> {
                    ConfigReloader.Outcome o = reloader.reload();
                    return o.valid()
                            ? null
                            : "the configuration file is not valid, nothing changed: "
                                    + String.join("; ", o.problems());
                },
                () -> System.exit(0));
        runUntilSignal(pooler, cfg.timeouts().shutdown());
        reloader.close();
        if (streamClient != null) {
            streamClient.close();
        }
        return 0;
    }

    /** Reads certificates, keys and credential files as start-up does, without opening any socket. */
    private void loadReferencedFiles(PoolerConfig cfg) throws ConfigException {
        try {
            Security.start(cfg).close();
        } catch (IOException e) {
            throw ReferencedFiles.explain(config.toString(), cfg, e.getMessage());
        }
    }

    private int invalid(ConfigException e) {
        err.println("pggat: invalid configuration:");
        err.println(e.getMessage());
        return 2;
    }

    /** Blocks until the JVM is asked to stop, then drains within {@code drain}. */
    static void runUntilSignal(Pooler pooler, java.time.Duration drain) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            org.slf4j.LoggerFactory.getLogger(PoolerCommand.class)
                                    .info("stopping: draining clients for up to {} s", drain.toSeconds());
                            pooler.shutdown(drain);
                            stopped.countDown();
                        },
                        "pggat-shutdown"));
        stopped.await();
    }
}

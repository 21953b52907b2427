package dev.pggat.pooler.cli;

import dev.pggat.pooler.Pooler;
import dev.pggat.pooler.config.ConfigException;
import dev.pggat.pooler.config.ConfigLoader;
import dev.pggat.pooler.config.PoolerConfig;
import dev.pggat.pooler.stream.EndpointStreamClient;
import dev.pggat.pooler.stream.EnvelopeApplier;
import dev.pggat.pooler.stream.StreamSettings;
import java.nio.file.Path;
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

    @Option(names = "--check", description = "Validate the configuration and exit (0 when valid, 2 when not)")
    boolean check;

    @Override
    public Integer call() throws Exception {
        PoolerConfig cfg;
        try {
            cfg = ConfigLoader.load(config, System.getenv());
        } catch (ConfigException e) {
            System.err.println("pggat: invalid configuration:");
            System.err.println(e.getMessage());
            return 2;
        }
        if (check) {
            System.out.println(config + ": configuration is valid");
            return 0;
        }
        Pooler pooler = new Pooler(cfg);
        // Under the operator: endpoint sets (failovers) and cancel peers arrive over its stream. The applier must
        // exist before the first client gets a cancel key, so it is set up before the listener starts.
        Optional<StreamSettings> stream = StreamSettings.fromEnvironment(System.getenv());
        EndpointStreamClient streamClient = null;
        if (stream.isPresent()) {
            EnvelopeApplier applier = new EnvelopeApplier(
                    () -> cfg.databases().keySet(),
                    pooler::applyEndpointSet,
                    pooler.cancelRegistry(),
                    stream.get().podName());
            streamClient = new EndpointStreamClient(stream.get(), applier).start();
        }
        pooler.start();
        // Endpoint changes in the file (or a SIGHUP) apply live; the rest of a changed file needs a restart.
        ConfigReloader reloader = new ConfigReloader(config, System.getenv(), pooler, cfg).start(2);
        runUntilSignal(pooler, cfg.timeouts().shutdown());
        reloader.close();
        if (streamClient != null) {
            streamClient.close();
        }
        return 0;
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

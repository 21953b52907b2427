package dev.pggat.operator.kube;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A test class that runs against the real kube-apiserver of {@link KubeApiServer#shared()}; a test method takes a
 * {@link KubeApiServer} parameter. Without {@code KUBEBUILDER_ASSETS} the tests are reported as skipped, with the
 * reason, never as passed.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(RealApiServerExtension.class)
@Tag("real-api-server")
public @interface RealApiServer {}

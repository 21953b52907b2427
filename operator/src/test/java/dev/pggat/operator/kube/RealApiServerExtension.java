package dev.pggat.operator.kube;

import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/** Skips, saying why, when no kube-apiserver is available; otherwise hands tests the run's shared server. */
public final class RealApiServerExtension implements ExecutionCondition, ParameterResolver {
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        String reason = KubeApiServer.unavailableReason();
        if (reason == null) {
            return ConditionEvaluationResult.enabled("KUBEBUILDER_ASSETS is set");
        }
        if (WARNED.compareAndSet(false, true)) {
            System.err.println("\n*** NOT RUN: tests against a real Kubernetes API server. " + reason + " ***\n");
        }
        return ConditionEvaluationResult.disabled("NOT RUN: " + reason);
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext extension) {
        return parameter.getParameter().getType() == KubeApiServer.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext extension) {
        return KubeApiServer.shared();
    }
}

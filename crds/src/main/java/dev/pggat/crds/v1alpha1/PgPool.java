package dev.pggat.crds.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/** A pggat connection pooler in front of one PostgreSQL cluster. */
@Group(PgPool.GROUP)
@Version(PgPool.VERSION)
@Kind("PgPool")
@Plural("pgpools")
@Singular("pgpool")
@ShortNames("pgp")
@AdditionalPrinterColumn(
        name = "Ready",
        jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
        type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Primary", jsonPath = ".status.primary", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Replicas", jsonPath = ".status.replicas", type = AdditionalPrinterColumn.Type.STRING)
// Wide output only (kubectl get -o wide): the default view stays short, and the counts matter when debugging.
@AdditionalPrinterColumn(
        name = "Pods At Version",
        jsonPath = ".status.podsAtVersion",
        type = AdditionalPrinterColumn.Type.INTEGER,
        priority = 1)
@AdditionalPrinterColumn(
        name = "Sidecars At Version",
        jsonPath = ".status.sidecarsAtVersion",
        type = AdditionalPrinterColumn.Type.INTEGER,
        priority = 1)
@AdditionalPrinterColumn(
        name = "Age",
        jsonPath = ".metadata.creationTimestamp",
        type = AdditionalPrinterColumn.Type.DATE)
public class PgPool extends CustomResource<PgPoolSpec, PgPoolStatus> implements Namespaced {
    public static final String GROUP = "pggat.dev";
    public static final String VERSION = "v1alpha1";
    private static final long serialVersionUID = 1L;
}

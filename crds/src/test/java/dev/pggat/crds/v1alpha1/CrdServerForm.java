package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.LongNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The generated CRD rewritten into the form the API server stores, so that applying the committed file again is
 * no change and server-side apply finds nothing to fight over. crd-generator writes what the server normalizes
 * away: {@code priority: 0} on printer columns (omitted when zero) and whole-number bounds as floats
 * ({@code minimum: 1.0}, stored as {@code 1}). It also sorts the printer columns by name, which put Age first;
 * they are listed here in the order of the annotations on {@link PgPool}.
 */
final class CrdServerForm {
    private static final ObjectMapper YAML =
            new ObjectMapper(new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER));
    private static final List<String> BOUNDS = List.of(
            "minimum",
            "maximum",
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
            "multipleOf");

    private CrdServerForm() {}

    static String of(String generatedYaml) throws IOException {
        ObjectNode crd = (ObjectNode) YAML.readTree(generatedYaml);
        List<String> order = Arrays.stream(PgPool.class.getAnnotationsByType(AdditionalPrinterColumn.class))
                .map(AdditionalPrinterColumn::name)
                .toList();
        for (JsonNode version : crd.at("/spec/versions")) {
            JsonNode columns = version.get("additionalPrinterColumns");
            if (columns instanceof ArrayNode list) {
                List<JsonNode> sorted = new ArrayList<>();
                list.forEach(sorted::add);
                sorted.sort(java.util.Comparator.comparingInt(c -> {
                    int i = order.indexOf(c.path("name").asText());
                    return i < 0 ? Integer.MAX_VALUE : i;
                }));
                list.removeAll();
                for (JsonNode c : sorted) {
                    if (c.path("priority").asInt(-1) == 0) {
                        ((ObjectNode) c).remove("priority");
                    }
                    list.add(c);
                }
            }
            wholeNumbers(version.path("schema"));
        }
        return "# Generated from the model classes (crds/) by crd-generator, in the form the API server stores.\n"
                + "# Refresh: mvn -B -q -pl crds -am test -Dpggat.updateCrds=true\n"
                + YAML.writeValueAsString(crd);
    }

    private static void wholeNumbers(JsonNode node) {
        if (node instanceof ObjectNode o) {
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode v = e.getValue();
                if (BOUNDS.contains(e.getKey())
                        && v.isFloatingPointNumber()
                        && v.asDouble() == Math.rint(v.asDouble())) {
                    long l = (long) v.asDouble();
                    e.setValue(l == (int) l ? IntNode.valueOf((int) l) : LongNode.valueOf(l));
                } else {
                    wholeNumbers(v);
                }
            }
        } else if (node instanceof ArrayNode a) {
            a.forEach(CrdServerForm::wholeNumbers);
        }
    }
}

package fr.passerelle.examples;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.stream.Collectors;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads an actor's Passerelle feed (topic {@code hub.feed.<actor>}) and decodes every
 * record with the plain Apache Avro library and the .avsc files of schemas/avro/
 * (docs/consumers.md).
 *
 * <pre>java -cp 'target/classes:target/lib/*' fr.passerelle.examples.FeedConsumer \
 *     BOOTSTRAP ACTOR SCHEMAS_DIR [IDLE_SECONDS]</pre>
 *
 * Prints one JSON line per record and exits once no record came for IDLE_SECONDS (5).
 * Values are Avro single-object encoded (C3 01, CRC-64-AVRO fingerprint of the writer
 * schema, body): {@link BinaryMessageDecoder} checks the header, finds the writer schema
 * by fingerprint (current FeedRecord or an archived one) and resolves it to the current one.
 */
public final class FeedConsumer {

    /** The current FeedRecord schema: its named types are parsed first, from their files. */
    static Schema feedRecordSchema(Path avroDir) throws IOException {
        Schema.Parser parser = new Schema.Parser();
        parser.parse(avroDir.resolve("fr.passerelle.hub.EvenementGP.avsc").toFile());
        parser.parse(avroDir.resolve("fr.passerelle.sne.Demande.avsc").toFile());
        return parser.parse(avroDir.resolve("fr.passerelle.hub.FeedRecord.avsc").toFile());
    }

    /** A decoder reading every FeedRecord version (history/ files are stand-alone). */
    static BinaryMessageDecoder<GenericRecord> decoder(Path avroDir) throws IOException {
        BinaryMessageDecoder<GenericRecord> decoder =
            new BinaryMessageDecoder<>(GenericData.get(), feedRecordSchema(avroDir));
        File[] archived = avroDir.resolve("history").toFile()
            .listFiles((dir, name) -> name.matches("FeedRecord\\.v\\d+\\.avsc"));
        for (File f : archived == null ? new File[0] : archived) {
            decoder.addSchema(new Schema.Parser().parse(f));
        }
        return decoder;
    }

    static String json(Object value) {
        return value == null ? "null" : GenericData.get().toString(value);
    }

    /** The fields every kind has, and what tells the kinds apart. */
    static String summary(ConsumerRecord<String, byte[]> m, GenericRecord r) {
        GenericRecord evenement = (GenericRecord) r.get("evenement");
        return "{\"partition\": " + m.partition() + ", \"offset\": " + m.offset()
            + ", \"kind\": " + json(r.get("kind"))
            + ", \"numUnique\": " + json(r.get("numUnique"))
            + ", \"eventId\": " + json(r.get("eventId"))
            + ", \"operation\": " + json(r.get("operation"))
            + ", \"demandeVersion\": " + r.get("demandeVersion")
            + ", \"profile\": " + json(r.get("profile"))
            + ", \"reason\": " + json(r.get("reason"))
            + ", \"hasDemande\": " + (r.get("demande") != null)
            + ", \"codeTypeEvenement\": "
            + json(evenement == null ? null : evenement.get("codeTypeEvenement"))
            // since FeedRecord v4 (older records read them at their defaults)
            + ", \"delaiAnormalementLong\": " + json(r.get("delaiAnormalementLong"))
            + ", \"cotations\": " + totals(r) + "}";
    }

    /** {EPCI: total} of the record's scores (docs/cotation.md). */
    static String totals(GenericRecord r) {
        StringBuilder out = new StringBuilder("{");
        for (Object c : (List<?>) r.get("cotations")) {
            GenericRecord cotation = (GenericRecord) c;
            out.append(out.length() > 1 ? ", " : "").append(json(cotation.get("epci")))
                .append(": ").append(cotation.get("total"));
        }
        return out.append("}").toString();
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 3) {
            System.err.println("usage: FeedConsumer BOOTSTRAP ACTOR SCHEMAS_DIR [IDLE_SECONDS]");
            System.exit(2);
        }
        String topic = "hub.feed." + args[1];
        BinaryMessageDecoder<GenericRecord> decoder = decoder(Path.of(args[2]));
        Duration idle = Duration.ofMillis((long) (1000 * Double.parseDouble(
            args.length > 3 ? args[3] : "5")));
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(
                props, new StringDeserializer(), new ByteArrayDeserializer())) {
            // no group: every partition, from the beginning, nothing committed
            List<TopicPartition> partitions = consumer.partitionsFor(topic).stream()
                .map(p -> new TopicPartition(topic, p.partition())).collect(Collectors.toList());
            if (partitions.isEmpty()) {
                System.err.println("no topic " + topic + ": is the actor id right?");
                System.exit(1);
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            ConsumerRecords<String, byte[]> batch;
            while (!(batch = consumer.poll(idle)).isEmpty()) {
                for (ConsumerRecord<String, byte[]> m : batch) {
                    // BadHeaderException / MissingSchemaException on a foreign message
                    System.out.println(summary(m, decoder.decode(m.value())));
                }
            }
        }
    }
}

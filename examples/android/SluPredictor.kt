// SluPredictor.kt: runs a slukit TFLite export (model.tflite + model.json) in an Android app.
//
// It does what slukit.lite.LitePredictor does in Python: the model's own text rules, the
// shortest signature that holds the utterance (windows for longer ones), the LiteRT Interpreter
// with the GPU delegate where the device supports it, and argmax or BIO Viterbi tag decoding.
//
// Written against LiteRT 1.4.2 (com.google.ai.edge.litert:litert, litert-gpu, litert-gpu-api).
// NOT compiled or run in the slukit project; see README.md.

package com.example.slu

import android.content.Context
import android.util.Log
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.text.Normalizer
import java.util.Locale
import kotlin.math.ln
import kotlin.math.max
import kotlin.math.min
import org.json.JSONArray
import org.json.JSONObject
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate

/** A slot: its type, its text, and its [start, end) offsets into the input string. */
data class Slot(val slot: String, val value: String, val start: Int, val end: Int)

/** One prediction, with the fields of `slukit predict`'s JSON. */
data class SluResult(
    val text: String,
    val tokens: List<String>,
    val intent: String,
    val confidence: Float,
    val tags: List<String>,
    val slots: List<Slot>,
)

/**
 * Intent and slots for raw text, from a slukit `.tflite` and its metadata JSON.
 *
 * Not thread-safe across threads: create it and call [predict] on one background thread
 * (the GPU delegate may be bound to the thread that created it). [predict] is synchronized
 * so that a second caller waits instead of corrupting the interpreter.
 *
 * @param model the `.tflite` bytes in a direct, native-order buffer (see [fromAssets]).
 * @param metadata the JSON written beside the `.tflite` by `slukit export`.
 * @param useGpu try the GPU delegate first; the CPU is used when the device or the model
 *     does not support it ([usesGpu] tells which).
 */
class SluPredictor(
    model: ByteBuffer,
    metadata: JSONObject,
    useGpu: Boolean = true,
    numThreads: Int = 2,
) : Closeable {

    private class Token(val text: String, val start: Int, val end: Int)

    private val lengths: List<Int>          // signature lengths, shortest first
    private val keys: Map<Int, String>      // length -> signature key ("L16", ...)
    private val useWords: Boolean
    private val useChars: Boolean
    private val maxWordChars: Int
    private val lowercase: Boolean
    private val bio: Boolean
    private val unkId: Int
    private val words: Map<String, Int>
    private val chars: Map<String, Int>
    private val intents: List<String>
    private val tags: List<String>          // tags[0] is <pad>, never predicted
    private val startAllowed: BooleanArray  // BIO rules over tags[1..]
    private val stepAllowed: Array<BooleanArray>

    private val interpreter: Interpreter
    private val gpuDelegate: GpuDelegate?
    private var closed = false

    /** True when the model runs with the GPU delegate, false when on the CPU. */
    val usesGpu: Boolean get() = gpuDelegate != null

    init {
        require(metadata.optString("format") == "slukit-tflite") {
            "not slukit TFLite metadata (format '${metadata.optString("format")}')"
        }
        require(metadata.optInt("format_version", 0) <= 1) {
            "metadata format_version ${metadata.optInt("format_version")} is newer than this code"
        }
        val rules = metadata.getJSONObject("rules")
        require(rules.optString("tokenizer", "whitespace") == "whitespace" &&
            rules.optString("unicode_normalization", "NFKC") == "NFKC") {
            "unsupported text rules: $rules"
        }
        lowercase = rules.optBoolean("lowercase", true)
        maxWordChars = rules.optInt("max_word_chars", 20)
        bio = rules.optString("slot_decoding", "argmax") == "bio"
        unkId = rules.optInt("unk_id", 1)

        val signatures = metadata.getJSONArray("signatures")
        val byLength = (0 until signatures.length())
            .map { signatures.getJSONObject(it) }
            .associate { it.getInt("length") to it.getString("key") }
        require(byLength.isNotEmpty()) { "the metadata lists no signatures" }
        keys = byLength
        lengths = byLength.keys.sorted()

        val inputs = metadata.getJSONObject("inputs")
        useWords = inputs.has("word_ids")
        useChars = inputs.has("char_ids")

        val vocab = metadata.getJSONObject("vocab")
        words = if (vocab.isNull("words")) emptyMap() else vocab.getJSONArray("words").toIndex()
        chars = if (vocab.isNull("chars")) emptyMap() else vocab.getJSONArray("chars").toIndex()
        intents = vocab.getJSONArray("intents").toList()
        tags = vocab.getJSONArray("tags").toList()

        // BIO: I-x may follow only B-x or I-x, and never start the utterance.
        val parts = tags.drop(1).map { it.substringBefore('-') to it.substringAfter('-', "") }
        startAllowed = BooleanArray(parts.size) { j -> parts[j].first != "I" }
        stepAllowed = Array(parts.size) { i ->
            BooleanArray(parts.size) { j ->
                val (prefixI, kindI) = parts[i]
                val (prefixJ, kindJ) = parts[j]
                prefixJ != "I" || ((prefixI == "B" || prefixI == "I") && kindI == kindJ)
            }
        }

        val (opened, delegate) = openInterpreter(model, useGpu, numThreads)
        interpreter = opened
        gpuDelegate = delegate
    }

    /** Intent, tags and slots for one utterance. */
    @Synchronized
    fun predict(text: String): SluResult {
        check(!closed) { "SluPredictor is closed" }
        val tokens = tokenize(text)
        val (intentProbs, tagProbs) = probabilities(interpreter, tokens.map { normalize(it.text) })
        val best = argmax(intentProbs, 0, intentProbs.size)
        val tagList = decodeTags(tagProbs)
        return SluResult(
            text = text,
            tokens = tokens.map { it.text },
            intent = intents[best],
            confidence = intentProbs[best],
            tags = tagList,
            slots = slotsFromTags(text, tokens, tagList),
        )
    }

    @Synchronized
    override fun close() {
        if (closed) return
        closed = true
        interpreter.close()
        gpuDelegate?.close()  // after the interpreter that uses it
    }

    // --- the interpreter ---------------------------------------------------------------

    private fun openInterpreter(
        model: ByteBuffer, useGpu: Boolean, numThreads: Int,
    ): Pair<Interpreter, GpuDelegate?> {
        if (useGpu) {
            val compatibility = CompatibilityList()
            try {
                if (compatibility.isDelegateSupportedOnThisDevice) {
                    var delegate: GpuDelegate? = null
                    var gpu: Interpreter? = null
                    try {
                        delegate = GpuDelegate(compatibility.bestOptionsForThisDevice)
                        gpu = Interpreter(model, Interpreter.Options().addDelegate(delegate))
                        checkSignatures(gpu)
                        // Run every signature once (on unknown words): a delegate that cannot
                        // run a subgraph fails here, not on the user's first utterance.
                        for (length in lengths) runSignature(gpu, List(length) { "" }, length)
                        return gpu to delegate
                    } catch (e: RuntimeException) {
                        Log.w(TAG, "GPU delegate could not run this model; using the CPU", e)
                        gpu?.close()
                        delegate?.close()
                    }
                } else {
                    Log.i(TAG, "GPU delegate not supported on this device; using the CPU")
                }
            } finally {
                compatibility.close()
            }
        }
        val cpu = Interpreter(model, Interpreter.Options().setNumThreads(numThreads))
        checkSignatures(cpu)
        return cpu to null
    }

    private fun checkSignatures(interpreter: Interpreter) {
        val missing = keys.values - interpreter.signatureKeys.toSet()
        require(missing.isEmpty()) { "the .tflite lacks the signatures $missing that its metadata lists" }
    }

    /** Runs the `length` signature on at most `length` normalized tokens, zero-padded. */
    private fun runSignature(
        interpreter: Interpreter, normalized: List<String>, length: Int,
    ): Pair<FloatArray, Array<FloatArray>> {
        val inputs = HashMap<String, Any>()
        if (useWords) {
            inputs["word_ids"] = IntArray(length).also { ids ->  // int32 [L], 0 = padding
                normalized.forEachIndexed { i, word -> ids[i] = words[word] ?: unkId }
            }
        }
        if (useChars) {
            inputs["char_ids"] = Array(length) { IntArray(maxWordChars) }.also { ids ->  // [L, C]
                normalized.forEachIndexed { i, word -> fillCharIds(word, ids[i]) }
            }
        }
        val intent = FloatArray(intents.size)                   // float32 [num_intents]
        val slots = Array(length) { FloatArray(tags.size) }     // float32 [L, num_tags]
        val outputs = mapOf<String, Any>("intent" to intent, "slots" to slots)
        interpreter.runSignature(inputs, outputs, keys.getValue(length))
        return intent to slots
    }

    /** Intent probabilities and one row of tag probabilities per token. */
    private fun probabilities(
        interpreter: Interpreter, normalized: List<String>,
    ): Pair<FloatArray, Array<FloatArray>> {
        val n = normalized.size
        val fits = lengths.firstOrNull { n <= it }
        if (fits != null) {
            val (intent, slots) = runSignature(interpreter, normalized, fits)
            return intent to slots.sliceArray(0 until n)
        }
        // Longer than the largest signature: windows of that size overlapping by a quarter.
        // Each token takes its tags from the window where it is farthest from an edge; the
        // intent is the windows' mean, weighted by the tokens each window tags.
        val size = lengths.last()
        val starts = (0 until n - size step max(1, size - size / 4)).toMutableList()
        starts += n - size
        val owner = IntArray(n) { i ->
            var best = 0
            var bestMargin = -1
            starts.forEachIndexed { w, s ->
                if (i >= s && i < s + size) {
                    val margin = min(i - s, s + size - 1 - i)
                    if (margin > bestMargin) { best = w; bestMargin = margin }
                }
            }
            best
        }
        val intent = FloatArray(intents.size)
        val rows = arrayOfNulls<FloatArray>(n)
        starts.forEachIndexed { w, s ->
            val (windowIntent, windowSlots) = runSignature(interpreter, normalized.subList(s, s + size), size)
            var mine = 0
            for (j in 0 until size) {
                if (owner[s + j] == w) { rows[s + j] = windowSlots[j]; mine++ }
            }
            for (k in intent.indices) intent[k] += windowIntent[k] * mine / n
        }
        return intent to Array(n) { rows[it]!! }
    }

    // --- text rules (slukit.preprocess.preprocessor) ------------------------------------

    /** Runs of non-whitespace characters with their offsets, as Python's `str.split()`. */
    private fun tokenize(text: String): List<Token> {
        val tokens = ArrayList<Token>()
        var start = -1
        for (i in text.indices) {
            if (isPythonSpace(text[i])) {
                if (start >= 0) { tokens += Token(text.substring(start, i), start, i); start = -1 }
            } else if (start < 0) {
                start = i
            }
        }
        if (start >= 0) tokens += Token(text.substring(start), start, text.length)
        return tokens
    }

    private fun normalize(token: String): String {
        val nfkc = Normalizer.normalize(token, Normalizer.Form.NFKC)
        return if (lowercase) nfkc.lowercase(Locale.ROOT) else nfkc
    }

    /** Ids of the first `maxWordChars` characters (code points) of a normalized word. */
    private fun fillCharIds(word: String, out: IntArray) {
        var i = 0
        var k = 0
        while (i < word.length && k < out.size) {
            val next = word.offsetByCodePoints(i, 1)
            out[k++] = chars[word.substring(i, next)] ?: unkId
            i = next
        }
    }

    // --- decoding -----------------------------------------------------------------------

    /** Tags by argmax or BIO Viterbi over tags[1..] (<pad> is never chosen). */
    private fun decodeTags(probs: Array<FloatArray>): List<String> {
        if (probs.isEmpty()) return emptyList()
        val ids = if (bio) viterbi(probs) else IntArray(probs.size) { argmax(probs[it], 1, tags.size) }
        return ids.map { tags[it] }
    }

    /** The best tag-id path (ids >= 1) in which every I-x follows B-x or I-x. */
    private fun viterbi(probs: Array<FloatArray>): IntArray {
        val k = tags.size - 1
        fun logP(t: Int, j: Int) = ln(max(probs[t][j + 1].toDouble(), 1e-12))
        var score = DoubleArray(k) { j -> if (startAllowed[j]) logP(0, j) else NEG }
        val back = Array(probs.size) { IntArray(k) }
        for (t in 1 until probs.size) {
            val next = DoubleArray(k)
            for (j in 0 until k) {
                var best = 0
                var bestScore = Double.NEGATIVE_INFINITY
                for (i in 0 until k) {
                    val s = score[i] + if (stepAllowed[i][j]) 0.0 else NEG
                    if (s > bestScore) { best = i; bestScore = s }
                }
                back[t][j] = best
                next[j] = bestScore + logP(t, j)
            }
            score = next
        }
        val path = IntArray(probs.size)
        path[path.size - 1] = (0 until k).maxByOrNull { score[it] }!!
        for (t in path.size - 1 downTo 1) path[t - 1] = back[t][path[t]]
        return IntArray(path.size) { path[it] + 1 }
    }

    /** BIO tags to slots; an I-x that does not continue an x slot starts one (as seqeval). */
    private fun slotsFromTags(text: String, tokens: List<Token>, tags: List<String>): List<Slot> {
        val slots = ArrayList<Slot>()
        var kind: String? = null
        var start = 0
        var end = 0
        fun flush() {
            kind?.let { slots += Slot(it, text.substring(start, end), start, end) }
            kind = null
        }
        for ((token, tag) in tokens.zip(tags)) {
            val prefix = tag.substringBefore('-')
            val tagKind = tag.substringAfter('-', "")
            if (prefix == "I" && kind == tagKind) { end = token.end; continue }
            flush()
            if ((prefix == "B" || prefix == "I") && tagKind.isNotEmpty()) {
                kind = tagKind; start = token.start; end = token.end
            }
        }
        flush()
        return slots
    }

    companion object {
        private const val TAG = "SluPredictor"
        private const val NEG = -1e9

        /** Loads `model.tflite` and `model.json` (or other names) from the app's assets. */
        fun fromAssets(
            context: Context,
            modelAsset: String = "model.tflite",
            metadataAsset: String = "model.json",
            useGpu: Boolean = true,
        ): SluPredictor {
            val bytes = context.assets.open(modelAsset).use { it.readBytes() }
            val model = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder())
            model.put(bytes).rewind()
            val json = context.assets.open(metadataAsset).bufferedReader().use { it.readText() }
            return SluPredictor(model, JSONObject(json), useGpu)
        }

        /** Python's `str.isspace()`: Unicode spaces, \t..\r, U+001C..U+001F and U+0085. */
        private fun isPythonSpace(c: Char) =
            Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\u0085'

        private fun argmax(values: FloatArray, from: Int, until: Int): Int {
            var best = from
            for (i in from + 1 until until) if (values[i] > values[best]) best = i
            return best
        }

        private fun JSONArray.toList(): List<String> = List(length()) { getString(it) }

        private fun JSONArray.toIndex(): Map<String, Int> =
            HashMap<String, Int>(length() * 2).also { map -> for (i in 0 until length()) map[getString(i)] = i }
    }
}

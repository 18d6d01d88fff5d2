/// Shrinks an RGB image by a whole factor as its rows arrive: each output pixel is the mean of a
/// `factor × factor` block of input pixels (area averaging; blocks at the right and bottom edges may be
/// narrower and are averaged over the pixels they have). Holds one row of sums, never the input.
struct BlockMeanReducer {
    let width: Int
    let height: Int
    let factor: Int
    /// `⌈width / factor⌉`, `⌈height / factor⌉`.
    let outputWidth: Int
    let outputHeight: Int
    /// Sums of the current row of blocks, `[outputWidth, 3]`.
    private var sums: [Float]
    /// Input rows added to the current row of blocks, and in all.
    private var rowsInBlock = 0
    private var rowsAdded = 0
    private var pixels: [Float]

    init(width: Int, height: Int, factor: Int) {
        precondition(width >= 0 && height >= 0 && factor >= 1, "bad reduction of \(width)x\(height) by \(factor)")
        self.width = width
        self.height = height
        self.factor = factor
        outputWidth = (width + factor - 1) / factor
        outputHeight = (height + factor - 1) / factor
        sums = [Float](repeating: 0, count: outputWidth * 3)
        pixels = []
        pixels.reserveCapacity(outputWidth * outputHeight * 3)
    }

    /// Adds the next input row, `[width, 3]` interleaved RGB.
    mutating func add(row: [Float]) {
        precondition(row.count == width * 3 && rowsAdded < height, "row \(rowsAdded) of \(row.count) samples")
        if factor == 1 {
            // No sums: the samples are the result, bit for bit.
            pixels.append(contentsOf: row)
        } else {
            for x in 0..<width {
                let block = x / factor * 3
                sums[block] += row[x * 3]
                sums[block + 1] += row[x * 3 + 1]
                sums[block + 2] += row[x * 3 + 2]
            }
        }
        rowsAdded += 1
        rowsInBlock += 1
        guard factor > 1, rowsInBlock == factor || rowsAdded == height else { return }
        for block in 0..<outputWidth {
            let columns = min(factor, width - block * factor)
            let count = Float(columns * rowsInBlock)
            for c in 0..<3 { pixels.append(sums[block * 3 + c] / count) }
        }
        for i in sums.indices { sums[i] = 0 }
        rowsInBlock = 0
    }

    /// The reduced image; every input row must have been added.
    var image: RGBImage {
        precondition(rowsAdded == height, "\(rowsAdded) of \(height) rows added")
        return RGBImage(width: outputWidth, height: outputHeight, pixels: pixels)
    }
}

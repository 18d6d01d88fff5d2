import CamwatchDaemon
import CamwatchTensor
import CamwatchTestSupport
import Testing

/// Temporary-name rules, glob matching and the natural order of checkpoint names.
@Suite struct CheckpointWatcherNameTests {
    @Test(arguments: [
        ".epoch-1.h5", ".epoch-1.h5.x7f3k2.tmp", "epoch-1.h5.tmp", "epoch-1.h5.TMP", "epoch-1.h5.part",
        "epoch-1.h5.partial", "epoch-1.h5~", ".epoch-1.h5.swp", "epoch-1.h5.swp", "tmpab12cd34", "tmp_model.h5",
        "epoch-1.h5.tmp4f9a0c21d3e84b7aa1b2c3d4e5f60718", "epoch-1.tmp.h5", "epoch-1.h5.tmp-3-12345",
        "#epoch-1.h5#", "epoch-1.h5.lock", "epoch-1.h5.crdownload", "",
    ])
    func temporaryNames(name: String) {
        #expect(CheckpointNameFilter.isTemporary(name))
        #expect(!CheckpointNameFilter(pattern: "*").accepts(name))
    }

    @Test(arguments: [
        "epoch-1.h5", "model.weights.h5", "last.h5", "ckpt-00042.h5", "resnet18_template.h5", "attempt.h5",
        "step=100-val_loss=0.31.h5", "x.tmpl.h5",
    ])
    func checkpointNames(name: String) {
        #expect(!CheckpointNameFilter.isTemporary(name))
        #expect(CheckpointNameFilter(pattern: "*").accepts(name))
    }

    @Test func globUsesFnmatch() {
        let keras = CheckpointNameFilter(pattern: "*.weights.h5")
        #expect(keras.accepts("model.weights.h5"))
        #expect(!keras.accepts("model.h5"))
        let epochs = CheckpointNameFilter(pattern: "epoch-[0-9]*.h5")
        #expect(epochs.accepts("epoch-12.h5"))
        #expect(!epochs.accepts("epoch-best.h5"))
        #expect(!CheckpointNameFilter().accepts("model.keras"))
        #expect(CheckpointNameFilter().pattern == "*.h5")
    }

    @Test func naturalOrderComparesDigitRunsByValue() {
        let sorted = [
            "epoch-1.h5", "epoch-2.h5", "Epoch-3.h5", "epoch-10.h5", "epoch-100.h5", "epoch-100a.h5", "step-9.h5",
            "step-99999999999999999999.h5", "step-100000000000000000000.h5",
        ]
        // Seeded, so a failing order can be replayed.
        var generator = SeededGenerator(seed: 42)
        #expect(sorted.shuffled(using: &generator).sorted(by: CheckpointFile.naturalOrder) == sorted)
        #expect(CheckpointFile.naturalOrder("ckpt-007.h5", "ckpt-8.h5"))
        #expect(CheckpointFile.naturalOrder("epoch-2", "epoch-10"))
        #expect(!CheckpointFile.naturalOrder("epoch-10", "epoch-2"))
        #expect(CheckpointFile.naturalOrder("a.h5", "b.h5"))
    }

    @Test func naturalOrderIsAStrictTotalOrder() {
        let names = ["ckpt-1", "ckpt-01", "CKPT-1", "ckpt-1", "ckpt", "ckpt-", "ckpt-1a", "ckpt-1A", "ckpt-0"]
        for a in names {
            #expect(!CheckpointFile.naturalOrder(a, a))
            for b in names where a != b {
                #expect(CheckpointFile.naturalOrder(a, b) != CheckpointFile.naturalOrder(b, a), "\(a) vs \(b)")
                for c in names where CheckpointFile.naturalOrder(a, b) && CheckpointFile.naturalOrder(b, c) {
                    #expect(CheckpointFile.naturalOrder(a, c), "\(a) < \(b) < \(c)")
                }
            }
        }
    }

    @Test func filesWithTheSameNameAreOrderedByModificationTime() {
        let older = CheckpointFile(path: "/d/last.h5", name: "last.h5", inode: 9, size: 10, mtimeNanoseconds: 100)
        let newer = CheckpointFile(path: "/d/last.h5", name: "last.h5", inode: 2, size: 10, mtimeNanoseconds: 200)
        let second = CheckpointFile(path: "/d/epoch-2.h5", name: "epoch-2.h5", inode: 1, size: 1, mtimeNanoseconds: 300)
        let tenth = CheckpointFile(path: "/d/epoch-10.h5", name: "epoch-10.h5", inode: 1, size: 1, mtimeNanoseconds: 1)
        #expect(
            [newer, tenth, older, second].sorted(by: CheckpointFile.naturalOrder) == [second, tenth, older, newer])
        #expect(older.id == "9-100-10")
        #expect(older.description == "last.h5 [9-100-10]")
    }
}
